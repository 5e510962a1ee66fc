using TorchSharp.Modules;

namespace VectorFit;

/// <summary>Which trainable vector of a <see cref="VectorFitLinear"/> an <see cref="AvfVector"/> is.</summary>
public enum AvfVectorKind
{
    /// <summary>The singular values σ, <c>(r)</c>.</summary>
    Sigma = 0,

    /// <summary>The bias b, <c>(out_features)</c>.</summary>
    Bias = 1,
}

/// <summary>
/// One vector of the AVF set (method §3): a σ or a b of one adapted layer, with its smoothed training
/// strength and whether it is frozen now. Read these for the paper's Figure 3 heat map.
/// </summary>
public sealed class AvfVector
{
    // An adapter bank's own tensor (AdapterBank.CreateAvfScheduler), which no Module.to replaces; null: the layer's parameter.
    private readonly Parameter? _source;

    internal AvfVector(int index, string layerName, SvdAdaptedLinear layer, AvfVectorKind kind, double[] initial, Parameter? source = null)
    {
        _source = source;
        Index = index;
        LayerName = layerName;
        Layer = layer;
        Kind = kind;
        Initial = initial;
        Name = layerName.Length == 0 ? KindSuffix(kind) : $"{layerName}.{KindSuffix(kind)}";
    }

    /// <summary>The parameter's full name, <c>LayerName + ".sigma"</c> or <c>".bias"</c> (its state_dict key).</summary>
    public string Name { get; }

    /// <summary>The adapted layer's name in the model, e.g. <c>encoder.layer.0.attention.self.query</c>.</summary>
    public string LayerName { get; }

    /// <summary>σ or b.</summary>
    public AvfVectorKind Kind { get; }

    /// <summary>Position in the scheduler's list; ties in strength are broken towards the lower index.</summary>
    public int Index { get; }

    /// <summary><c>dim(v)</c>: the number of values in the vector.</summary>
    public long Length => Initial.Length;

    /// <summary>The smoothed training strength <c>S'_v</c> as of the last AVF step (0 before the first).</summary>
    public double SmoothedStrength { get; internal set; }

    /// <summary>Whether the vector is frozen now (no gradient, skipped by the optimizer).</summary>
    public bool IsFrozen { get; internal set; }

    /// <summary>The layer that holds the vector (for a bank adapter's vector: the model's layer the adapter's σ or b is for).</summary>
    internal SvdAdaptedLinear Layer { get; }

    /// <summary><c>v_0</c>, the value before fine-tuning, in float64.</summary>
    internal double[] Initial { get; set; }

    /// <summary>
    /// The vector's parameter now: the layer's <c>sigma</c> or <c>bias</c>, <c>(Length)</c>, or, for a scheduler of an adapter in an
    /// <see cref="Adapters.AdapterBank"/>, that adapter's own σ or b of the layer. A layer's is looked up through the layer every time,
    /// because <c>Module.to</c> replaces parameter objects, so read it here rather than keeping it.
    /// </summary>
    /// <exception cref="InvalidOperationException">The layer no longer has the bias this vector tracks.</exception>
    public Parameter Parameter
        => _source ?? Layer.AvfVectors().Where(v => v.Kind == Kind).Select(v => v.Vector).FirstOrDefault()
            ?? throw new InvalidOperationException($"The layer '{LayerName}' no longer has a bias, but AVF tracks '{Name}'.");

    /// <summary>The state_dict suffix of a vector kind.</summary>
    internal static string KindSuffix(AvfVectorKind kind) => kind == AvfVectorKind.Sigma ? "sigma" : "bias";

    /// <inheritdoc />
    public override string ToString()
        => $"{Name} ({Length}): S' = {SmoothedStrength:G6}{(IsFrozen ? ", frozen" : string.Empty)}";
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.Models;

/// <summary>The shape of the BERT-base-shaped encoder the model-level benchmark trains.</summary>
/// <param name="Layers">Encoder layers (4 or 12 in the benchmark).</param>
/// <param name="Model">Hidden size d (768).</param>
/// <param name="Mlp">MLP width (3072).</param>
/// <param name="Heads">Attention heads (12).</param>
/// <param name="Classes">Classes of the first-token classifier head (2).</param>
public sealed record EncoderShape(int Layers, int Model = 768, int Mlp = 3072, int Heads = 12, int Classes = 2);

/// <summary>
/// One post-LayerNorm BERT layer: self-attention (q, k, v, o) and an MLP (f1, GELU, f2), each with a residual
/// connection and LayerNorm; no dropout, no attention mask (every token is real). Matches
/// <c>benchmarks/pytorch/step.py</c> operation for operation.
/// </summary>
/// <remarks>
/// The six projections are fields typed <c>Module&lt;Tensor, Tensor&gt;</c>, not <c>Linear</c>, so
/// <see cref="ModelSurgery"/> (or <see cref="ReplaceProjections"/>) can put another layer in their place.
/// </remarks>
public sealed class EncoderLayer : nn.Module<Tensor, Tensor>
{
    /// <summary>The registered names of the adapted projections, in the order the methods list them.</summary>
    public static readonly IReadOnlyList<string> ProjectionNames = new[] { "q", "k", "v", "o", "f1", "f2" };

    private readonly int _heads;
    private nn.Module<Tensor, Tensor> q;
    private nn.Module<Tensor, Tensor> k;
    private nn.Module<Tensor, Tensor> v;
    private nn.Module<Tensor, Tensor> o;
    private readonly LayerNorm ln1;
    private nn.Module<Tensor, Tensor> f1;
    private nn.Module<Tensor, Tensor> f2;
    private readonly LayerNorm ln2;

    /// <summary>A layer with freshly initialised weights (TorchSharp's defaults, like PyTorch's).</summary>
    public EncoderLayer(EncoderShape shape)
        : base(nameof(EncoderLayer))
    {
        ArgumentNullException.ThrowIfNull(shape);
        _heads = shape.Heads;
        q = nn.Linear(shape.Model, shape.Model);
        k = nn.Linear(shape.Model, shape.Model);
        v = nn.Linear(shape.Model, shape.Model);
        o = nn.Linear(shape.Model, shape.Model);
        ln1 = nn.LayerNorm(shape.Model);
        f1 = nn.Linear(shape.Model, shape.Mlp);
        f2 = nn.Linear(shape.Mlp, shape.Model);
        ln2 = nn.LayerNorm(shape.Model);
        RegisterComponents();
    }

    /// <summary>
    /// Replaces each of q, k, v, o, f1, f2 with <paramref name="replace"/>(current layer): sets the field and
    /// re-registers the name (TorchSharp has no <c>set_submodule</c>). Used for the LoRA reference.
    /// </summary>
    public void ReplaceProjections(Func<Linear, nn.Module<Tensor, Tensor>> replace)
    {
        ArgumentNullException.ThrowIfNull(replace);
        q = Replace("q", q, replace);
        k = Replace("k", k, replace);
        v = Replace("v", v, replace);
        o = Replace("o", o, replace);
        f1 = Replace("f1", f1, replace);
        f2 = Replace("f2", f2, replace);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var (batch, tokens, model) = (input.shape[0], input.shape[1], input.shape[2]);
        var headSize = model / _heads;
        Tensor Heads(Tensor y) => y.view(batch, tokens, _heads, headSize).transpose(1, 2);

        var query = Heads(q.forward(input));
        var key = Heads(k.forward(input));
        var value = Heads(v.forward(input));
        var scores = query.matmul(key.transpose(-2, -1)) / Math.Sqrt(headSize);
        var context = nn.functional.softmax(scores, -1).matmul(value).transpose(1, 2).reshape(batch, tokens, model);
        var attended = ln1.forward(input + o.forward(context));
        var output = ln2.forward(attended + f2.forward(nn.functional.gelu(f1.forward(attended))));
        return output.MoveToOuterDisposeScope();
    }

    private nn.Module<Tensor, Tensor> Replace(string name, nn.Module<Tensor, Tensor> current, Func<Linear, nn.Module<Tensor, Tensor>> replace)
    {
        if (current is not Linear linear)
        {
            throw new InvalidOperationException($"'{name}' is a {current.GetType().Name}, not a Linear: the layer was adapted already.");
        }

        var replacement = replace(linear);
        register_module(name, null!);
        register_module(name, replacement);
        return replacement;
    }
}

/// <summary>
/// A BERT-base-shaped encoder fed hidden states <c>(batch, tokens, d)</c> (no embedding table), with a
/// classifier <c>head</c> on the first token: the model of the model-level benchmark.
/// </summary>
public sealed class BertEncoder : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<EncoderLayer> layers;
    private readonly Linear head;

    /// <summary>A freshly initialised encoder (seed with <c>torch.manual_seed</c> first for reproducible weights).</summary>
    public BertEncoder(EncoderShape shape)
        : base(nameof(BertEncoder))
    {
        ArgumentNullException.ThrowIfNull(shape);
        Shape = shape;
        layers = nn.ModuleList(Enumerable.Range(0, shape.Layers).Select(_ => new EncoderLayer(shape)).ToArray());
        head = nn.Linear(shape.Model, shape.Classes);
        RegisterComponents();
    }

    /// <summary>The model's shape.</summary>
    public EncoderShape Shape { get; }

    /// <summary>The encoder layers, in order.</summary>
    public IEnumerable<EncoderLayer> Layers => layers;

    /// <summary>The classifier head (trained by every method; <c>modules_to_save</c> for VectorFit).</summary>
    public Linear Head => head;

    /// <summary>Logits <c>(batch, classes)</c> for hidden states <c>(batch, tokens, d)</c>.</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var x = input;
        foreach (var layer in layers)
        {
            x = layer.forward(x);
        }

        return head.forward(x.select(1, 0)).MoveToOuterDisposeScope();
    }
}

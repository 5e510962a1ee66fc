using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// A linear layer reparameterised by the thin SVD of its weight, <c>y = U·diag(σ)·Vᵀ·x + b</c>, with
/// <c>U</c> and <c>V</c> frozen and only the singular values <c>σ</c> and the bias <c>b</c> trainable.
/// </summary>
/// <remarks>
/// VectorFit paper §3.1, method §1. Registered components (the state_dict keys): the parameters
/// <c>sigma</c> <c>(r)</c> and <c>bias</c> <c>(out_features)</c> (when present) and the persistent buffers
/// <c>U</c> <c>(out_features, r)</c> and <c>V</c> <c>(in_features, r)</c>, with <c>r = min(in_features, out_features)</c>.
/// At construction the layer reproduces the original <c>Linear</c> up to SVD round-off: the decomposition
/// is computed in float64 and rounded once to the layer's dtype (about 1e-6 relative for float32). With
/// <see cref="VectorFitLinearOptions.FactorDType"/> set, U and V are stored in that narrower dtype (rounded once from
/// float64) and converted to the compute dtype for each product; σ, σ₀, b and the arithmetic stay in the weight's dtype.
/// </remarks>
public sealed class VectorFitLinear : SvdAdaptedLinear
{
    /// <summary>The state_dict key of the trainable singular values σ, relative to the layer.</summary>
    public const string SigmaKey = "sigma";

    // The public property is named like the component, so Module's generic `to` would try to set it: the base's _to
    // overrides move everything instead (MoveOwnTensors below).
    [ComponentName(Name = SigmaKey)]
    private Parameter _sigma;

    // σ0 lives outside a Tensor field so RegisterComponents does not make it a buffer: it is derived
    // from the base weights (a fresh surgery recomputes it), so it stays out of state_dict and adapters.
    private readonly UnregisteredTensor _initialSigma;

    // W = U·diag(σ)·Vᵀ while σ does not train; not a Tensor field, so not a buffer (it is derived state).
    private readonly ComposedWeightCache _composed = new();

    private ComposedWeightMode _composedWeightMode;

    /// <summary>
    /// Wraps <paramref name="linear"/>: takes the thin SVD of its weight (in float64 on its device) and copies
    /// its bias. The original layer is not modified and is not owned by the new one.
    /// </summary>
    /// <param name="linear">The layer to adapt, weight <c>(out_features, in_features)</c>, any floating dtype and device.</param>
    /// <param name="options">Which vectors to train; <c>null</c> for the defaults (σ and the existing bias).</param>
    /// <exception cref="ArgumentNullException"><paramref name="linear"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// The options are invalid (or their <see cref="VectorFitLinearOptions.FactorDType"/> is wider than the weight's dtype); the
    /// weight is not finite, empty or on the meta device, or its largest singular value overflows its dtype; or the bias does not
    /// fit the weight (shape, dtype, device).
    /// </exception>
    public VectorFitLinear(Linear linear, VectorFitLinearOptions? options = null)
        : this(linear, options, null)
    {
    }

    /// <summary>Adapts <paramref name="linear"/> with its SVD from <paramref name="svdSource"/> (an SVD cache) when given.</summary>
    internal VectorFitLinear(Linear linear, VectorFitLinearOptions? options, Func<Tensor, string, ScalarType?, ThinSvd>? svdSource)
        : base(nameof(VectorFitLinear), linear, Checked(linear, ref options).TrainBias, options!.AddBias, options.FactorDType, svdSource, out var singularValues)
    {
        Options = options;
        _initialSigma = new UnregisteredTensor(singularValues);
        using (torch.no_grad())
        {
            _sigma = NewParameter(singularValues.clone(), options.TrainSigma);
        }

        RegisterComponents();
    }

    /// <summary>Same as the constructor: adapts <paramref name="linear"/> (see <see cref="VectorFitLinear(Linear, VectorFitLinearOptions?)"/>).</summary>
    /// <param name="linear">The layer to adapt.</param>
    /// <param name="options">Which vectors to train; <c>null</c> for the defaults.</param>
    /// <returns>A new layer that reproduces <paramref name="linear"/> up to SVD round-off.</returns>
    public static VectorFitLinear FromLinear(Linear linear, VectorFitLinearOptions? options = null)
        => new(linear, options);

    /// <summary>The options the layer was built with (which vectors are trainable at all).</summary>
    public VectorFitLinearOptions Options { get; }

    /// <summary>
    /// Whether the layer keeps its composed weight while σ does not train (<see cref="VectorFit.ComposedWeightMode.Speed"/>,
    /// the default) or keeps nothing and evaluates factored (<see cref="VectorFit.ComposedWeightMode.Memory"/>). Setting it
    /// releases a held weight at once. <see cref="SetComposedWeightMode"/> sets it for a whole model.
    /// </summary>
    public ComposedWeightMode ComposedWeightMode
    {
        get => _composedWeightMode;
        set
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "ComposedWeightMode must be Speed or Memory.");
            }

            _composedWeightMode = value;
            if (value == ComposedWeightMode.Memory)
            {
                _composed.Clear();
            }
        }
    }

    /// <summary>Sets <see cref="ComposedWeightMode"/> on every <see cref="VectorFitLinear"/> of <paramref name="model"/>.</summary>
    /// <param name="model">An adapted model (or a single layer).</param>
    /// <param name="mode">The setting for every layer.</param>
    /// <returns>How many layers were set.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="mode"/> is not a defined value.</exception>
    public static int SetComposedWeightMode(nn.Module model, ComposedWeightMode mode)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model is VectorFitLinear single)
        {
            single.ComposedWeightMode = mode;
            return 1;
        }

        var count = 0;
        foreach (var (_, layer) in ModelSurgery.FindLayers<VectorFitLinear>(model))
        {
            layer.ComposedWeightMode = mode;
            count++;
        }

        return count;
    }

    /// <summary>The trainable singular values σ, <c>(r)</c>; state_dict key <c>sigma</c>.</summary>
    public Parameter sigma => _sigma;

    /// <summary>
    /// The singular values at construction, σ₀ <c>(r)</c>, used by <see cref="DeltaWeight"/>. A plain field, not a
    /// buffer: it is not in state_dict (a fresh adaptation of the same base layer recomputes it) but it follows
    /// <c>Module.to</c>. Owned by the layer: do not modify or dispose.
    /// </summary>
    public Tensor initial_sigma => _initialSigma.Value;

    /// <summary>Computes <c>y = U·diag(σ)·Vᵀ·x + b</c>.</summary>
    /// <param name="input">Input <c>(*, in_features)</c>, same dtype and device as the layer.</param>
    /// <returns>Output <c>(*, out_features)</c>; it belongs to the caller's dispose scope (every temporary is disposed here).</returns>
    /// <remarks>
    /// Method §1. When σ trains (grad mode on and <c>sigma.requires_grad</c>), the evaluation is either factored,
    /// <c>((x·V) ⊙ σ)·Uᵀ + b</c>, or materialised, <c>W = (U ⊙ σ)·Vᵀ</c> then one linear, whichever costs fewer
    /// multiply-adds for the step, forward and backward together (<see cref="ChoosePath"/>). When σ does not train
    /// (AVF froze it, the options freeze it, or inference under <c>no_grad</c>), what happens depends on
    /// <see cref="ComposedWeightMode"/>: in <see cref="VectorFit.ComposedWeightMode.Speed"/> (the default) W is composed once and
    /// reused while σ, U and V provably stay as they were, so the layer costs what a frozen <c>Linear</c> costs, at the
    /// price of holding W (released as soon as σ trains again); in <see cref="VectorFit.ComposedWeightMode.Memory"/> the layer
    /// evaluates factored and holds nothing more. The reuse is proved on every call without copies of U and V: σ
    /// (r values) is compared with a copy; U and V must be the same tensors (<c>Module.to</c> replaces them) whose
    /// libtorch version counter has not moved (every in-place operation, <c>load_state_dict</c>'s <c>copy_</c>
    /// included) and which were not handed out since (<see cref="SvdAdaptedLinear.U"/>, <c>state_dict</c>,
    /// <c>named_buffers</c>: the paths through which a write that bypasses libtorch, such as TorchSharp's
    /// <c>Module.load</c>, reaches them). A raw write through a handle kept across forwards is the one change no check
    /// without a copy can see. Where libtorch's version counter cannot be reached (or U, V are inference tensors) the
    /// layer evaluates as in the memory setting. Inside <see cref="AssumeFactorsUnchanged"/> only σ is compared.
    /// For inference, <see cref="SvdAdaptedLinear.ToLinear"/> merges without any of this.
    /// </remarks>
    private protected override Tensor Evaluate(Tensor input)
    {
        // Inside AdapterBank.Route each row takes its own adapter's σ and b (a factored pass with gathered vectors).
        if (Adapters.AdapterRoute.Current is { } route && route.Evaluate(this, input) is { } routed)
        {
            return routed;
        }

        var sigmaTrains = torch.is_grad_enabled() && _sigma.requires_grad;
        var path = PathOverride != ForwardPath.Auto
            ? PathOverride
            : sigmaTrains ? ChoosePath(input.numel() / in_features, sigmaTrains: true, input.requires_grad) : ForwardPath.Cached;
        if (path == ForwardPath.Cached && sigmaTrains)
        {
            // A detached W would cut σ out of the graph: the cache is only for a σ that does not train.
            path = ChoosePath(input.numel() / in_features, sigmaTrains: true, input.requires_grad);
        }

        if (path == ForwardPath.Cached && (ComposedWeightMode == ComposedWeightMode.Memory || !ComposedWeightCache.CanProve(_u, _v)))
        {
            // Nothing kept between calls: the factored path holds no (d_out, d_in) tensor, not even for backward.
            path = ForwardPath.Factored;
        }

        if (path != ForwardPath.Cached)
        {
            _composed.Clear();
        }

        // Temporaries live in this scope, so a caller without a scope leaves nothing to the finalizer.
        using var scope = torch.NewDisposeScope();
        Tensor output;
        if (path == ForwardPath.Cached)
        {
            // The cache proves itself on the stored U and V (identity, version counter) and converts them only to compose.
            output = nn.functional.linear(input, _composed.Get(_u, _sigma, _v, FactorHandouts), _bias);
        }
        else if (path == ForwardPath.Materialized)
        {
            output = nn.functional.linear(input, ThinSvd.Compose(InComputeDType(_u), _sigma, InComputeDType(_v)), _bias);
        }
        else
        {
            var projected = nn.functional.linear(input, InComputeDType(_v).t());
            output = nn.functional.linear(projected * _sigma, InComputeDType(_u), _bias);
        }

        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Opens a scope in which, on the calling thread, every <see cref="VectorFitLinear"/> whose σ does not train trusts
    /// its frozen U and V and checks only σ before reusing its composed weight: unmerged inference (or training with
    /// AVF-frozen layers) then costs what the merged model costs.
    /// </summary>
    /// <returns>The scope; dispose it (on the same thread) to return to the full check.</returns>
    /// <remarks>
    /// <para>
    /// Outside the scope the reuse is proved on every call by comparing σ with its copy and reading libtorch's version
    /// counters of U and V (and the layer's count of their hand-outs): a few operations, no read of U or V, so since
    /// issue 17 the scope saves next to nothing (it cost 1.13 × base in unmerged inference when the proof compared U and V
    /// with copies). Inside the scope σ (r values), the identity of U and V, their dtype and device are still checked,
    /// so AVF, optimizers, <c>requires_grad</c> changes and <c>Module.to</c> are all still seen.
    /// </para>
    /// <para>
    /// The promise you make: nothing changes U or V in place while the scope is open (no <c>load_state_dict</c> of a
    /// different base model, no in-place edit of <c>U</c>/<c>V</c>, no write through <c>data&lt;T&gt;()</c>); such a
    /// change is caught at the first call after the scope ends. This is the contract of PyTorch's
    /// <c>torch.nn.utils.parametrize.cached()</c>. For inference at base speed without any promise, merge
    /// (<see cref="ModelSurgery.MergeAndUnload"/>).
    /// </para>
    /// <example>
    /// <code>
    /// using (VectorFitLinear.AssumeFactorsUnchanged())
    /// using (torch.no_grad())
    /// {
    ///     foreach (var batch in batches) { predictions.Add(model.forward(batch)); }
    /// }
    /// </code>
    /// </example>
    /// </remarks>
    public static IDisposable AssumeFactorsUnchanged() => ComposedWeightCache.AssumeFactorsUnchanged();

    /// <inheritdoc />
    private protected override Tensor ComposeWeight64()
        => ThinSvd.Compose(_u.to(ScalarType.Float64), _sigma.detach().to(ScalarType.Float64), _v.to(ScalarType.Float64));

    /// <summary>The weight update learned so far, <c>ΔW = U·diag(σ − σ₀)·Vᵀ</c>, <c>(out_features, in_features)</c>.</summary>
    /// <returns>A new tensor in the layer's compute dtype and device, not tracked by autograd; the caller owns it.</returns>
    /// <remarks>Method §1 (paper §6.2): ΔW can have full rank r, unlike LoRA. Formed in float64 from U and V as stored, rounded once.</remarks>
    public override Tensor DeltaWeight()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var delta = _sigma.detach().to(ScalarType.Float64) - initial_sigma.to(ScalarType.Float64);
            var w64 = ThinSvd.Compose(_u.to(ScalarType.Float64), delta, _v.to(ScalarType.Float64));
            return w64.to(ComputeDType).clone().MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// The cheaper evaluation, forward and backward together, for <paramref name="tokens"/> input rows when σ trains
    /// (method §1, cost note); with σ frozen the cached weight is always at least as cheap (<c>r·(d_in + d_out) ≥ d_in·d_out</c>).
    /// </summary>
    /// <param name="tokens">N, the number of input rows.</param>
    /// <param name="sigmaTrains">Whether σ gets a gradient (the bias gradient costs the same on both paths).</param>
    /// <param name="inputNeedsGrad">Whether the input gets a gradient (every layer but the first in a model).</param>
    /// <remarks>
    /// Multiply-adds, with σ and the input both getting gradients: factored <c>2·N·r·(d_in + d_out)</c> (forward x·V and
    /// ·Uᵀ; backward g·U, then ·Vᵀ for the input); materialised <c>3·N·d_in·d_out + 2·d_in·d_out·r</c> (compose W, the
    /// forward, the input's gradient, W's gradient, and its projection <c>diag(Uᵀ·∂W·V)</c> onto σ). Without the input's
    /// gradient each path drops one term. For a square d × d layer the factored path wins below N = 2d tokens; when one side is at least twice
    /// the other (3072 × 768) it always wins.
    /// </remarks>
    internal ForwardPath ChoosePath(long tokens, bool sigmaTrains, bool inputNeedsGrad)
    {
        var dense = in_features * out_features;
        var backward = sigmaTrains || inputNeedsGrad;
        var factored = (tokens * rank * (in_features + out_features))
            + (backward ? tokens * rank * out_features : 0)
            + (inputNeedsGrad ? tokens * rank * in_features : 0);
        var materialized = (dense * rank) + (tokens * dense)
            + (sigmaTrains ? (tokens * dense) + (dense * rank) : 0)
            + (inputNeedsGrad ? tokens * dense : 0);
        return factored < materialized ? ForwardPath.Factored : ForwardPath.Materialized;
    }

    /// <summary>The composed-weight cache (tests and diagnostics).</summary>
    internal ComposedWeightCache ComposedWeight => _composed;

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _initialSigma.Dispose();
            _composed.Dispose();
        }

        // Module.Dispose disposes the registered sigma, bias, U and V.
        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override AdaptationMethod Method => AdaptationMethod.VectorFit;

    /// <inheritdoc />
    private protected override Parameter Trained => _sigma;

    /// <inheritdoc />
    private protected override bool TrainsOwnTensor => Options.TrainSigma;

    /// <inheritdoc />
    internal override Parameter? UntrainedBaseParameter => Options.TrainSigma ? null : _sigma;

    /// <inheritdoc />
    internal override IEnumerable<(AvfVectorKind Kind, Parameter Vector)> AvfVectors()
    {
        if (Options.TrainSigma)
        {
            yield return (AvfVectorKind.Sigma, _sigma);
        }

        if (Options.TrainBias && _bias is { } trainedBias)
        {
            yield return (AvfVectorKind.Bias, trainedBias);
        }
    }

    /// <inheritdoc />
    private protected override void MoveOwnTensors(ScalarType? dtype, Device? device)
    {
        // The cache would also notice the replaced tensors; clearing here frees the old device's copies at once.
        _composed.Clear();
        _sigma = MoveParameter(SigmaKey, _sigma, dtype, device);
        _initialSigma.MoveTo(dtype, device);
    }

    private static VectorFitLinearOptions Checked(Linear linear, ref VectorFitLinearOptions? options)
    {
        ArgumentNullException.ThrowIfNull(linear);
        options ??= new VectorFitLinearOptions();
        options.Validate();
        return options;
    }
}

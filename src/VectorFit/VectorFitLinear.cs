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
/// is computed in float64 and rounded once to the layer's dtype (about 1e-6 relative for float32).
/// </remarks>
public sealed class VectorFitLinear : nn.Module<Tensor, Tensor>
{
    // Names of the registered components; public property names match them, so Module's generic
    // `to` would try to set the get-only properties: the _to overrides below move everything instead.
    private const string SigmaName = "sigma";
    private const string BiasName = "bias";
    private const string UName = "U";
    private const string VName = "V";

    [ComponentName(Name = SigmaName)]
    private Parameter _sigma;

    [ComponentName(Name = BiasName)]
    private Parameter? _bias;

    [ComponentName(Name = UName)]
    private Tensor _u;

    [ComponentName(Name = VName)]
    private Tensor _v;

    // σ0 lives outside a Tensor field so RegisterComponents does not make it a buffer: it is derived
    // from the base weights (a fresh surgery recomputes it), so it stays out of state_dict and adapters.
    private readonly UnregisteredTensor _initialSigma;

    // W = U·diag(σ)·Vᵀ while σ does not train; not a Tensor field, so not a buffer (it is derived state).
    private readonly ComposedWeightCache _composed = new();

    /// <summary>
    /// Wraps <paramref name="linear"/>: takes the thin SVD of its weight (in float64 on its device) and copies
    /// its bias. The original layer is not modified and is not owned by the new one.
    /// </summary>
    /// <param name="linear">The layer to adapt, weight <c>(out_features, in_features)</c>, any floating dtype and device.</param>
    /// <param name="options">Which vectors to train; <c>null</c> for the defaults (σ and the existing bias).</param>
    /// <exception cref="ArgumentNullException"><paramref name="linear"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// The options are invalid; the weight is not finite, empty or on the meta device, or its largest singular value overflows
    /// its dtype; or the bias does not fit the weight (shape, dtype, device).
    /// </exception>
    public VectorFitLinear(Linear linear, VectorFitLinearOptions? options = null)
        : this(linear, options, null)
    {
    }

    /// <summary>Adapts <paramref name="linear"/> with its SVD from <paramref name="svdSource"/> (an SVD cache) when given.</summary>
    internal VectorFitLinear(Linear linear, VectorFitLinearOptions? options, Func<Tensor, string, ThinSvd>? svdSource)
        : base(nameof(VectorFitLinear))
    {
        ArgumentNullException.ThrowIfNull(linear);
        options ??= new VectorFitLinearOptions();
        options.Validate();
        Options = options;

        // The layer takes ownership of the decomposition's tensors (no copies of U and V).
        var svd = ThinSvd.ForLinear(linear, svdSource, out var sourceWeight);
        SourceWeight = sourceWeight;

        in_features = linear.weight.shape[1];
        out_features = linear.weight.shape[0];
        rank = svd.Rank;
        _u = svd.U;
        _v = svd.V;
        _initialSigma = new UnregisteredTensor(svd.S);

        using (torch.no_grad())
        {
            _sigma = NewParameter(svd.S.clone(), options.TrainSigma);
            if (linear.bias is { } existingBias)
            {
                _bias = NewParameter(existingBias.detach().clone(), options.TrainBias);
            }
            else if (options.AddBias)
            {
                _bias = NewParameter(torch.zeros(out_features, dtype: _u.dtype, device: _u.device), trainable: true);
            }
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

    /// <summary>The trainable singular values σ, <c>(r)</c>; state_dict key <c>sigma</c>.</summary>
    public Parameter sigma => _sigma;

    /// <summary>
    /// The bias <c>(out_features)</c>, or <c>null</c> when the original layer had none and
    /// <see cref="VectorFitLinearOptions.AddBias"/> was not set; state_dict key <c>bias</c>.
    /// </summary>
    public Parameter? bias => _bias;

    /// <summary>Frozen left singular vectors, <c>(out_features, r)</c>; persistent buffer <c>U</c>. Owned by the layer: do not modify or dispose.</summary>
    public Tensor U => _u;

    /// <summary>Frozen right singular vectors, <c>(in_features, r)</c>; persistent buffer <c>V</c> (so <c>W = U·diag(σ)·Vᵀ</c>). Owned by the layer.</summary>
    public Tensor V => _v;

    /// <summary>
    /// The singular values at construction, σ₀ <c>(r)</c>, used by <see cref="DeltaWeight"/>. A plain field, not a
    /// buffer: it is not in state_dict (a fresh adaptation of the same base layer recomputes it) but it follows
    /// <c>Module.to</c>. Owned by the layer: do not modify or dispose.
    /// </summary>
    public Tensor initial_sigma => _initialSigma.Value;

    /// <summary>Size of each input sample, <c>d_in</c>.</summary>
    public long in_features { get; }

    /// <summary>Size of each output sample, <c>d_out</c>.</summary>
    public long out_features { get; }

    /// <summary>Number of singular values, <c>r = min(in_features, out_features)</c>.</summary>
    public long rank { get; }

    /// <summary>
    /// SHA-256 of the bytes of the weight the layer was built from, and its dtype (the adapter's base-model fingerprint
    /// checks it exactly); <c>null</c> once the layer was converted to another dtype.
    /// </summary>
    internal (string Sha256, ScalarType DType)? SourceWeight { get; private set; }

    /// <summary>How many times <c>forward</c> was called (<see cref="ModelSurgery.VerifyForward"/> compares it before and after a forward pass).</summary>
    internal long ForwardCalls { get; private set; }

    /// <summary>Forces one evaluation path (tests and benchmarks); <see cref="ForwardPath.Auto"/> picks by cost.</summary>
    internal ForwardPath PathOverride { get; set; }

    /// <summary>Computes <c>y = U·diag(σ)·Vᵀ·x + b</c>.</summary>
    /// <param name="input">Input <c>(*, in_features)</c>, same dtype and device as the layer.</param>
    /// <returns>Output <c>(*, out_features)</c>; it belongs to the caller's dispose scope (every temporary is disposed here).</returns>
    /// <remarks>
    /// Method §1. When σ trains (grad mode on and <c>sigma.requires_grad</c>), the evaluation is either factored,
    /// <c>((x·V) ⊙ σ)·Uᵀ + b</c>, or materialised, <c>W = (U ⊙ σ)·Vᵀ</c> then one linear, whichever costs fewer
    /// multiply-adds for the step, forward and backward together (<see cref="ChoosePath"/>). When σ does not train
    /// (AVF froze it, the options freeze it, or inference under <c>no_grad</c>), W is composed once and reused while
    /// σ, U and V stay exactly as they were, so the layer costs what a frozen <c>Linear</c> costs. The reuse is proved
    /// on every call by comparing σ, U and V with copies (anything that can change them, <c>load_state_dict</c>,
    /// in-place edits, <c>Module.to</c>, is caught), at the price of holding W and those copies while σ is frozen;
    /// they are released as soon as σ trains again. Inside <see cref="AssumeFactorsUnchanged"/> only σ is compared.
    /// For inference, <see cref="ToLinear"/> merges without that memory.
    /// </remarks>
    /// <exception cref="ArgumentException">The last dimension is not <c>in_features</c>, or dtype or device differ.</exception>
    public override Tensor forward(Tensor input)
    {
        ForwardCalls++;
        ValidateInput(input);
        var sigmaTrains = torch.is_grad_enabled() && _sigma.requires_grad;
        var path = PathOverride != ForwardPath.Auto
            ? PathOverride
            : sigmaTrains ? ChoosePath(input.numel() / in_features, sigmaTrains: true, input.requires_grad) : ForwardPath.Cached;
        if (path == ForwardPath.Cached && sigmaTrains)
        {
            // A detached W would cut σ out of the graph: the cache is only for a σ that does not train.
            path = ChoosePath(input.numel() / in_features, sigmaTrains: true, input.requires_grad);
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
            output = nn.functional.linear(input, _composed.Get(_u, _sigma, _v), _bias);
        }
        else if (path == ForwardPath.Materialized)
        {
            output = nn.functional.linear(input, ThinSvd.Compose(_u, _sigma, _v), _bias);
        }
        else
        {
            var projected = nn.functional.linear(input, _v.t());
            output = nn.functional.linear(projected * _sigma, _u, _bias);
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
    /// Outside the scope the reuse is proved on every call by comparing σ, U and V with the copies the weight was
    /// composed from. For U and V that reads <c>2·r·(d_in + d_out)</c> values per call, which at a few hundred tokens
    /// costs about as much as the layer's own product (the product reads its weight once; the proof reads U, V and
    /// their copies). Inside the scope σ (r values), the identity of U and V, their dtype and device are still checked,
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

    /// <summary>Merges the layer into a plain <c>Linear</c> with <c>W = U·diag(σ)·Vᵀ</c> and a copy of the bias.</summary>
    /// <returns>A new, independent <c>Linear</c> in the layer's dtype and device (trainable, like any new Linear).</returns>
    /// <remarks>Method §1. The product is formed in float64 and rounded once to the layer's dtype.</remarks>
    /// <exception cref="InvalidOperationException">The merged weight or the bias contains NaN or infinite values.</exception>
    public Linear ToLinear()
    {
        Tensor weight;
        Tensor? biasCopy = null;
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var w64 = ThinSvd.Compose(
                _u.to(ScalarType.Float64), _sigma.detach().to(ScalarType.Float64), _v.to(ScalarType.Float64));
            weight = w64.to(_u.dtype).clone();
            var badWeight = weight.isfinite().logical_not().sum().item<long>();
            var badBias = _bias is null ? 0 : _bias.isfinite().logical_not().sum().item<long>();
            if (badWeight > 0 || badBias > 0)
            {
                throw new InvalidOperationException(
                    $"Cannot merge VectorFitLinear ({in_features} -> {out_features}): the merged weight has {badWeight} and the bias " +
                    $"{badBias} NaN or infinite values, so training has diverged. Restore a finite checkpoint (or lower the learning rate) before merging.");
            }

            weight.DetachFromDisposeScope();
            biasCopy = _bias?.detach().clone().DetachFromDisposeScope();
        }

        return nn.Linear(new Parameter(weight), biasCopy is null ? null : new Parameter(biasCopy));
    }

    /// <summary>The weight update learned so far, <c>ΔW = U·diag(σ − σ₀)·Vᵀ</c>, <c>(out_features, in_features)</c>.</summary>
    /// <returns>A new tensor in the layer's dtype and device, not tracked by autograd; the caller owns it.</returns>
    /// <remarks>Method §1 (paper §6.2): ΔW can have full rank r, unlike LoRA. Formed in float64, rounded once.</remarks>
    public Tensor DeltaWeight()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var delta = _sigma.detach().to(ScalarType.Float64) - initial_sigma.to(ScalarType.Float64);
            var w64 = ThinSvd.Compose(_u.to(ScalarType.Float64), delta, _v.to(ScalarType.Float64));
            return w64.to(_u.dtype).clone().MoveToOuterDisposeScope();
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
    protected override nn.Module _to(Device device, ScalarType dtype, bool non_blocking)
    {
        MoveTo(RequireFloatingPoint(dtype), device);
        return this;
    }

    /// <inheritdoc />
    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking)
    {
        MoveTo(null, new Device(deviceType, deviceIndex));
        return this;
    }

    /// <inheritdoc />
    protected override nn.Module _to(ScalarType dtype, bool non_blocking)
    {
        MoveTo(RequireFloatingPoint(dtype), null);
        return this;
    }

    private void MoveTo(ScalarType? dtype, Device? device)
    {
        if (dtype is { } newType && SourceWeight is { } source && source.DType != newType)
        {
            SourceWeight = null; // the weight it was built from is no longer what it computes with
        }

        // The cache would also notice the replaced tensors; clearing here frees the old device's copies at once.
        _composed.Clear();
        // Gradients and requires_grad travel with the parameters (as in Linear's own override).
        if (ReplaceParameter(dtype, device, _sigma, out var sigmaMoved))
        {
            _sigma.Dispose();
            _sigma = sigmaMoved!;
            ConditionallyRegisterParameter(SigmaName, _sigma);
        }

        if (_bias is not null && ReplaceParameter(dtype, device, _bias, out var biasMoved))
        {
            _bias.Dispose();
            _bias = biasMoved;
            ConditionallyRegisterParameter(BiasName, _bias);
        }

        if (ReplaceBuffer(dtype, device, _u, out var uMoved))
        {
            _u = uMoved!;
            ConditionallyRegisterBuffer(UName, _u);
        }

        if (ReplaceBuffer(dtype, device, _v, out var vMoved))
        {
            _v = vMoved!;
            ConditionallyRegisterBuffer(VName, _v);
        }

        _initialSigma.MoveTo(dtype, device);
    }

    private static ScalarType RequireFloatingPoint(ScalarType dtype)
    {
        if (!torch.is_floating_point(dtype))
        {
            throw new ArgumentException(
                $"VectorFitLinear can only be converted to a floating-point dtype (Float16, BFloat16, Float32, Float64), got {dtype}.",
                nameof(dtype));
        }

        return dtype;
    }

    private static Parameter NewParameter(Tensor value, bool trainable)
    {
        var parameter = new Parameter(value, requires_grad: trainable);
        parameter.DetachFromDisposeScope();
        return parameter;
    }

    private void ValidateInput(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        // Tensor.matmul aborts the process on a shape mismatch (facts #8): check before any product.
        if (input.dim() < 1 || input.shape[^1] != in_features)
        {
            throw new ArgumentException(
                $"VectorFitLinear expects input of shape (*, {in_features}) (in_features = {in_features}), got {ThinSvd.ShapeText(input.shape)}. " +
                "Check that the layer is applied to the right tensor, or reshape the input.",
                nameof(input));
        }

        if (input.dtype != _u.dtype)
        {
            throw new ArgumentException(
                $"VectorFitLinear holds {_u.dtype} weights but the input is {input.dtype}; convert the input with input.to({_u.dtype}) or the model with model.to({input.dtype}).",
                nameof(input));
        }

        if (input.device_type != _u.device_type || input.device_index != _u.device_index)
        {
            throw new ArgumentException(
                $"VectorFitLinear is on {_u.device} but the input is on {input.device}; move one of them with .to(device).",
                nameof(input));
        }
    }
}

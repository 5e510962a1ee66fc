using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// A linear layer adapted with SVFT (arXiv 2405.19597) on the frozen thin SVD of its weight:
/// <c>y = U·(diag(σ) + M)·Vᵀ·x + b</c>, with <c>U</c>, <c>σ</c>, <c>V</c> frozen and only the entries of <c>M</c> on a
/// fixed sparse pattern (and the bias) trainable. <c>M</c> starts at zero, so the layer starts equal to the original.
/// </summary>
/// <remarks>
/// Method §5. Registered components (the state_dict keys): the parameters <c>svft_values</c> <c>(nnz)</c>, the trainable
/// entries of <c>M</c>, and <c>bias</c> <c>(out_features)</c> when present; the persistent buffers <c>frozen_sigma</c> <c>(r)</c>,
/// <c>U</c> <c>(out_features, r)</c>, <c>V</c> <c>(in_features, r)</c>, and <c>svft_rows</c>, <c>svft_cols</c> <c>(nnz)</c>, int64,
/// the positions of the values in <c>M</c>. No dense <c>r × r</c> matrix is stored or built per step.
/// The SVD is taken in float64 and its sign ambiguity is removed (each column of <c>U</c> has its largest-magnitude
/// entry positive, <c>V</c> flipped with it), so the basis in which <c>M</c> is trained does not depend on the LAPACK
/// build or device: an adapter trained on one machine means the same on another (up to repeated singular values).
/// </remarks>
public sealed class SvftLinear : nn.Module<Tensor, Tensor>
{
    private const string ValuesName = "svft_values";
    private const string RowsName = "svft_rows";
    private const string ColsName = "svft_cols";
    private const string SigmaName = "frozen_sigma";
    private const string BiasName = "bias";
    private const string UName = "U";
    private const string VName = "V";

    [ComponentName(Name = ValuesName)]
    private Parameter _values;

    [ComponentName(Name = BiasName)]
    private Parameter? _bias;

    [ComponentName(Name = SigmaName)]
    private Tensor _sigma;

    [ComponentName(Name = UName)]
    private Tensor _u;

    [ComponentName(Name = VName)]
    private Tensor _v;

    [ComponentName(Name = RowsName)]
    private Tensor _rows;

    [ComponentName(Name = ColsName)]
    private Tensor _cols;

    // Band patterns are evaluated by diagonal slices (null for Random and Top-k): fixed by the pattern and r, not state.
    private readonly SvftDiagonal[]? _diagonals;

    /// <summary>
    /// Wraps <paramref name="linear"/>: takes the thin SVD of its weight (float64, on its device), fixes the pattern of
    /// <c>M</c> and copies the bias. The original layer is not modified and not owned by the new one.
    /// </summary>
    /// <param name="linear">The layer to adapt, weight <c>(out_features, in_features)</c>, any floating dtype and device.</param>
    /// <param name="options">The pattern and which tensors train; <c>null</c> for the defaults (plain pattern, existing bias trained).</param>
    /// <exception cref="ArgumentNullException"><paramref name="linear"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// The options are invalid, the pattern does not fit the layer (<c>d ≥ r</c>, or Top-k on a non-square layer), the weight is not
    /// finite, empty or on the meta device, its largest singular value overflows its dtype, or the bias does not fit the weight.
    /// </exception>
    public SvftLinear(Linear linear, SvftLinearOptions? options = null)
        : this(linear, options, null)
    {
    }

    /// <summary>Adapts <paramref name="linear"/> with its SVD from <paramref name="svdSource"/> (an SVD cache) when given.</summary>
    internal SvftLinear(Linear linear, SvftLinearOptions? options, Func<Tensor, string, ThinSvd>? svdSource)
        : base(nameof(SvftLinear))
    {
        ArgumentNullException.ThrowIfNull(linear);
        options ??= new SvftLinearOptions();
        options.Validate();
        in_features = linear.weight.shape[1];
        out_features = linear.weight.shape[0];
        options.Pattern.ValidateFor(in_features, out_features);
        Options = options;

        // The layer takes ownership of the decomposition's tensors.
        var svd = ThinSvd.ForLinear(linear, svdSource, out var sourceWeight);
        SourceWeight = sourceWeight;

        rank = svd.Rank;
        _u = svd.U;
        _v = svd.V;
        _sigma = svd.S;
        using (torch.no_grad())
        {
            FixSigns(_u, _v);
            var (rows, cols) = SvftPatternIndices.Build(options.Pattern, rank, _u, _v);
            _rows = torch.tensor(rows, dtype: ScalarType.Int64, device: _u.device).DetachFromDisposeScope();
            _cols = torch.tensor(cols, dtype: ScalarType.Int64, device: _u.device).DetachFromDisposeScope();
            _diagonals = options.Pattern.Kind is SvftPatternKind.Plain or SvftPatternKind.Banded
                ? SvftPatternIndices.Band(rank, options.Pattern.OffDiagonals)
                : null;
            _values = NewParameter(torch.zeros(rows.LongLength, dtype: _u.dtype, device: _u.device), options.TrainValues);
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

    /// <summary>Same as the constructor (see <see cref="SvftLinear(Linear, SvftLinearOptions?)"/>).</summary>
    /// <param name="linear">The layer to adapt.</param>
    /// <param name="options">The pattern and which tensors train; <c>null</c> for the defaults.</param>
    /// <returns>A new layer that reproduces <paramref name="linear"/> up to SVD round-off.</returns>
    public static SvftLinear FromLinear(Linear linear, SvftLinearOptions? options = null) => new(linear, options);

    /// <summary>The options the layer was built with.</summary>
    public SvftLinearOptions Options { get; }

    /// <summary>The pattern of trainable entries of <c>M</c> (<see cref="SvftLinearOptions.Pattern"/>).</summary>
    public SvftPattern Pattern => Options.Pattern;

    /// <summary>The trainable entries of <c>M</c>, <c>(nnz)</c>, at (<see cref="svft_rows"/>, <see cref="svft_cols"/>); zero at construction; state_dict key <c>svft_values</c>.</summary>
    public Parameter svft_values => _values;

    /// <summary>Row of each value in <c>M</c>, <c>(nnz)</c> int64; persistent buffer <c>svft_rows</c>. Owned by the layer: do not modify.</summary>
    public Tensor svft_rows => _rows;

    /// <summary>Column of each value in <c>M</c>, <c>(nnz)</c> int64; persistent buffer <c>svft_cols</c>. Owned by the layer: do not modify.</summary>
    public Tensor svft_cols => _cols;

    /// <summary>The frozen singular values σ, <c>(r)</c>, descending; persistent buffer <c>frozen_sigma</c>. Owned by the layer.</summary>
    public Tensor frozen_sigma => _sigma;

    /// <summary>The bias <c>(out_features)</c>, or <c>null</c> when the original had none and no bias was added; state_dict key <c>bias</c>.</summary>
    public Parameter? bias => _bias;

    /// <summary>Frozen left singular vectors, <c>(out_features, r)</c>; persistent buffer <c>U</c>. Owned by the layer.</summary>
    public Tensor U => _u;

    /// <summary>Frozen right singular vectors, <c>(in_features, r)</c>; persistent buffer <c>V</c> (so <c>W₀ = U·diag(σ)·Vᵀ</c>). Owned by the layer.</summary>
    public Tensor V => _v;

    /// <summary>Size of each input sample, <c>d_in</c>.</summary>
    public long in_features { get; }

    /// <summary>Size of each output sample, <c>d_out</c>.</summary>
    public long out_features { get; }

    /// <summary><c>r = min(in_features, out_features)</c>: <c>M</c> is <c>r × r</c>.</summary>
    public long rank { get; }

    /// <summary>The number of entries of <c>M</c> that can train, <c>nnz</c>: <c>r·(2d+1) − d·(d+1)</c> (method §5).</summary>
    public long ValueCount => _values.shape[0];

    /// <summary>The trained values: <see cref="ValueCount"/> when the values train, plus <c>out_features</c> when a bias trains.</summary>
    public long TrainableParameterCount =>
        (Options.TrainValues ? ValueCount : 0) + (Options.TrainBias && _bias is not null ? out_features : 0);

    /// <summary>
    /// SHA-256 of the bytes of the weight the layer was built from, and its dtype (the adapter's base-model fingerprint
    /// checks it exactly); <c>null</c> once the layer was converted to another dtype.
    /// </summary>
    internal (string Sha256, ScalarType DType)? SourceWeight { get; private set; }

    /// <summary>How many times <c>forward</c> was called (<see cref="ModelSurgery.VerifyForward"/> compares it before and after a forward pass).</summary>
    internal long ForwardCalls { get; private set; }

    /// <summary>Forces one evaluation path (tests and benchmarks); <see cref="ForwardPath.Auto"/> picks by cost.</summary>
    internal ForwardPath PathOverride { get; set; }

    /// <summary>Evaluates band patterns through <c>svft_rows</c>/<c>svft_cols</c> like scattered ones (tests and benchmarks).</summary>
    internal bool ForceIndexEvaluation { get; set; }

    private IReadOnlyList<SvftDiagonal>? Diagonals => ForceIndexEvaluation ? null : _diagonals;

    /// <summary>Computes <c>y = U·(diag(σ) + M)·Vᵀ·x + b</c>.</summary>
    /// <param name="input">Input <c>(*, in_features)</c>, same dtype and device as the layer.</param>
    /// <returns>Output <c>(*, out_features)</c>; it belongs to the caller's dispose scope (every temporary is disposed here).</returns>
    /// <remarks>
    /// Method §5. Factored, <c>zᵀ = Vᵀ·xᵀ</c>, <c>wᵀ = (diag(σ) + M)·zᵀ</c> over the pattern only, <c>y = w·Uᵀ + b</c>
    /// (<c>N·(r·(d_in + d_out) + nnz)</c> multiply-adds for N rows); or materialised, <c>W = (U·(diag(σ) + M))·Vᵀ</c> then
    /// one linear (<c>d_out·(nnz + r·d_in) + N·d_in·d_out</c>), whichever is cheaper for the step, forward and backward
    /// together (<see cref="ChoosePath"/>). Neither forms the dense <c>M</c>.
    /// </remarks>
    /// <exception cref="ArgumentException">The last dimension is not <c>in_features</c>, or dtype or device differ.</exception>
    /// <exception cref="InvalidOperationException"><c>svft_rows</c>/<c>svft_cols</c> were overwritten with positions outside <c>M</c>.</exception>
    public override Tensor forward(Tensor input)
    {
        ForwardCalls++;
        ValidateInput(input);
        try
        {
            return Evaluate(input);
        }
        catch (System.Runtime.InteropServices.ExternalException e) when (Adapters.SvftPositions.ProblemIn(this) is { } problem)
        {
            // Checked only on failure: the positions can only go bad through a load_state_dict or an in-place write,
            // and a check on every call would cost a device sync.
            throw new InvalidOperationException(problem, e);
        }
    }

    private Tensor Evaluate(Tensor input)
    {
        var valuesTrain = torch.is_grad_enabled() && _values.requires_grad;
        var path = PathOverride != ForwardPath.Auto && PathOverride != ForwardPath.Cached
            ? PathOverride
            : ChoosePath(input.numel() / in_features, valuesTrain, input.requires_grad);

        // Temporaries live in this scope, so a caller without a scope leaves nothing to the finalizer.
        using var scope = torch.NewDisposeScope();
        if (path == ForwardPath.Materialized)
        {
            var weight = SvftProduct.Compose(_u, _sigma, _values, _rows, _cols, Diagonals, _v);
            return nn.functional.linear(input, weight, _bias).MoveToOuterDisposeScope();
        }

        // zᵀ = Vᵀ·xᵀ comes out (r, N), one row per singular direction, the layout SvftProduct works on; BLAS takes the
        // transposed operands as they are, so no copies are made.
        var projected = _v.t().matmul(input.reshape(-1, in_features).t());
        var mixed = SvftProduct.Apply(projected, _sigma, _values, _rows, _cols, Diagonals, SvftSide.Input);
        var output = nn.functional.linear(mixed.t(), _u, _bias);
        return output.reshape(input.shape[..^1].Append(out_features).ToArray()).MoveToOuterDisposeScope();
    }

    /// <summary>Merges the layer into a plain <c>Linear</c> with <c>W = U·(diag(σ) + M)·Vᵀ</c> and a copy of the bias.</summary>
    /// <returns>A new, independent <c>Linear</c> in the layer's dtype and device.</returns>
    /// <remarks>Method §5. The product is formed in float64 and rounded once to the layer's dtype.</remarks>
    /// <exception cref="InvalidOperationException">The merged weight or the bias contains NaN or infinite values.</exception>
    public Linear ToLinear()
    {
        Tensor weight;
        Tensor? biasCopy;
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            weight = Compose64(_sigma.to(ScalarType.Float64)).to(_u.dtype).clone();
            var badWeight = weight.isfinite().logical_not().sum().item<long>();
            var badBias = _bias is null ? 0 : _bias.isfinite().logical_not().sum().item<long>();
            if (badWeight > 0 || badBias > 0)
            {
                throw new InvalidOperationException(
                    $"Cannot merge SvftLinear ({in_features} -> {out_features}, {Pattern}): the merged weight has {badWeight} and the bias {badBias} NaN or infinite values, " +
                    "so training has diverged. Restore a finite checkpoint (or lower the learning rate) before merging.");
            }

            weight.DetachFromDisposeScope();
            biasCopy = _bias?.detach().clone().DetachFromDisposeScope();
        }

        return nn.Linear(new Parameter(weight), biasCopy is null ? null : new Parameter(biasCopy));
    }

    /// <summary>The weight update learned so far, <c>ΔW = U·M·Vᵀ</c>, <c>(out_features, in_features)</c>.</summary>
    /// <returns>A new tensor in the layer's dtype and device, not tracked by autograd; the caller owns it.</returns>
    /// <remarks>Method §5. Formed in float64 from the sparse entries of <c>M</c>, rounded once.</remarks>
    public Tensor DeltaWeight()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var zeros = torch.zeros(rank, dtype: ScalarType.Float64, device: _u.device);
            return Compose64(zeros).to(_u.dtype).clone().MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// The cheaper evaluation, forward and backward together, for <paramref name="tokens"/> input rows (method §1 cost note,
    /// with the pattern's terms, as <see cref="VectorFitLinear"/> counts them).
    /// </summary>
    /// <param name="tokens">N, the number of input rows.</param>
    /// <param name="valuesTrain">Whether the values of M get a gradient.</param>
    /// <param name="inputNeedsGrad">Whether the input gets a gradient.</param>
    /// <remarks>
    /// With <c>s = nnz + r</c> and both gradients: factored <c>2·N·(r·(d_in + d_out) + s)</c>, materialised
    /// <c>3·N·d_in·d_out + 2·d_out·(d_in·r + s)</c> (compose, forward, input gradient, W's gradient and its projection
    /// onto the pattern). Without a gradient each path drops its terms.
    /// </remarks>
    internal ForwardPath ChoosePath(long tokens, bool valuesTrain, bool inputNeedsGrad)
    {
        var sparse = ValueCount + rank;
        var dense = in_features * out_features;
        var compose = out_features * ((in_features * rank) + sparse);
        var backward = valuesTrain || inputNeedsGrad;
        var factored = (tokens * ((rank * (in_features + out_features)) + sparse))
            + (backward ? tokens * ((rank * out_features) + sparse) : 0)
            + (inputNeedsGrad ? tokens * rank * in_features : 0);
        var materialized = compose + (tokens * dense)
            + (valuesTrain ? (tokens * dense) + compose : 0)
            + (inputNeedsGrad ? tokens * dense : 0);
        return factored < materialized ? ForwardPath.Factored : ForwardPath.Materialized;
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

    // U·(diag(s) + M)·Vᵀ in float64, under the caller's no_grad and dispose scope.
    private Tensor Compose64(Tensor s)
        => SvftProduct.Compose(
            _u.to(ScalarType.Float64), s, _values.detach().to(ScalarType.Float64), _rows, _cols, _diagonals, _v.to(ScalarType.Float64));

    // Makes the largest-magnitude entry of each column of U positive, flipping V's column with it (U·diag(σ)·Vᵀ is unchanged).
    private static void FixSigns(Tensor u, Tensor v)
    {
        using var scope = torch.NewDisposeScope();
        var largest = u.abs().argmax(0, keepdim: true);
        var signs = u.gather(0, largest).sign().reshape(-1);
        var nonZero = signs.eq(HeldScalars.Zero).to(signs.dtype).add(signs, HeldScalars.One);
        u.mul_(nonZero);
        v.mul_(nonZero);
    }

    private void MoveTo(ScalarType? dtype, Device? device)
    {
        if (dtype is { } newType && SourceWeight is { } source && source.DType != newType)
        {
            SourceWeight = null; // the weight it was built from is no longer what it computes with
        }

        // Module's generic _to would try to set the get-only properties named like the components; move each one here.
        if (ReplaceParameter(dtype, device, _values, out var valuesMoved))
        {
            _values.Dispose();
            _values = valuesMoved!;
            ConditionallyRegisterParameter(ValuesName, _values);
        }

        if (_bias is not null && ReplaceParameter(dtype, device, _bias, out var biasMoved))
        {
            _bias.Dispose();
            _bias = biasMoved;
            ConditionallyRegisterParameter(BiasName, _bias);
        }

        _sigma = MoveBuffer(SigmaName, _sigma, dtype, device);
        _u = MoveBuffer(UName, _u, dtype, device);
        _v = MoveBuffer(VName, _v, dtype, device);
        _rows = MoveBuffer(RowsName, _rows, dtype, device);
        _cols = MoveBuffer(ColsName, _cols, dtype, device);
    }

    private Tensor MoveBuffer(string name, Tensor buffer, ScalarType? dtype, Device? device)
    {
        // ReplaceBuffer converts floating-point buffers only, so the int64 indices keep their dtype.
        if (!ReplaceBuffer(dtype, device, buffer, out var moved))
        {
            return buffer;
        }

        ConditionallyRegisterBuffer(name, moved);
        return moved!;
    }

    private static ScalarType RequireFloatingPoint(ScalarType dtype)
    {
        if (!torch.is_floating_point(dtype))
        {
            throw new ArgumentException(
                $"SvftLinear can only be converted to a floating-point dtype (Float16, BFloat16, Float32, Float64), got {dtype}.", nameof(dtype));
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
                $"SvftLinear expects input of shape (*, {in_features}) (in_features = {in_features}), got {ThinSvd.ShapeText(input.shape)}. " +
                "Check that the layer is applied to the right tensor, or reshape the input.",
                nameof(input));
        }

        if (input.dtype != _u.dtype)
        {
            throw new ArgumentException(
                $"SvftLinear holds {_u.dtype} weights but the input is {input.dtype}; convert the input with input.to({_u.dtype}) or the model with model.to({input.dtype}).",
                nameof(input));
        }

        if (input.device_type != _u.device_type || input.device_index != _u.device_index)
        {
            throw new ArgumentException(
                $"SvftLinear is on {_u.device} but the input is on {input.device}; move one of them with .to(device).", nameof(input));
        }
    }
}

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
public sealed class SvftLinear : SvdAdaptedLinear
{
    /// <summary>The state_dict key of the trainable entries of <c>M</c>, relative to the layer.</summary>
    public const string ValuesKey = "svft_values";

    /// <summary>The state_dict key of the row of each entry of <c>M</c>, relative to the layer.</summary>
    public const string RowsKey = "svft_rows";

    /// <summary>The state_dict key of the column of each entry of <c>M</c>, relative to the layer.</summary>
    public const string ColsKey = "svft_cols";

    /// <summary>The state_dict key of the frozen singular values, relative to the layer.</summary>
    public const string FrozenSigmaKey = "frozen_sigma";

    [ComponentName(Name = ValuesKey)]
    private Parameter _values;

    [ComponentName(Name = FrozenSigmaKey)]
    private Tensor _sigma;

    [ComponentName(Name = RowsKey)]
    private Tensor _rows;

    [ComponentName(Name = ColsKey)]
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
    internal SvftLinear(Linear linear, SvftLinearOptions? options, Func<Tensor, string, ScalarType?, ThinSvd>? svdSource)
        : base(nameof(SvftLinear), linear, Checked(linear, ref options).TrainBias, options!.AddBias, factorDType: null, svdSource, out var singularValues)
    {
        Options = options;
        _sigma = singularValues;
        using (torch.no_grad())
        {
            FixSigns(_u, _v);
            var (rows, cols) = SvftPatternIndices.Build(options.Pattern, rank, _u, _v);
            _rows = torch.tensor(rows, dtype: ScalarType.Int64, device: _u.device).DetachFromDisposeScope();
            _cols = torch.tensor(cols, dtype: ScalarType.Int64, device: _u.device).DetachFromDisposeScope();
            _diagonals = options.Pattern.Kind is SvftPatternKind.Plain or SvftPatternKind.Banded
                ? SvftPatternIndices.Band(rank, options.Pattern.OffDiagonals)
                : null;
            _values = NewParameter(torch.zeros(rows.LongLength, dtype: ComputeDType, device: _u.device), options.TrainValues);
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

    /// <summary>The number of entries of <c>M</c> that can train, <c>nnz</c>: <c>r·(2d+1) − d·(d+1)</c> (method §5).</summary>
    public long ValueCount => _values.shape[0];

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
    /// <exception cref="InvalidOperationException"><c>svft_rows</c>/<c>svft_cols</c> were overwritten with positions outside <c>M</c>.</exception>
    private protected override Tensor Evaluate(Tensor input)
    {
        try
        {
            return EvaluateChecked(input);
        }
        catch (System.Runtime.InteropServices.ExternalException e) when (PositionProblem() is { } problem)
        {
            // Checked only on failure: the positions can only go bad through a load_state_dict or an in-place write,
            // and a check on every call would cost a device sync.
            throw new InvalidOperationException(problem, e);
        }
    }

    private Tensor EvaluateChecked(Tensor input)
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

    /// <inheritdoc />
    private protected override Tensor ComposeWeight64() => Compose64(_sigma.to(ScalarType.Float64));

    /// <summary>The weight update learned so far, <c>ΔW = U·M·Vᵀ</c>, <c>(out_features, in_features)</c>.</summary>
    /// <returns>A new tensor in the layer's dtype and device, not tracked by autograd; the caller owns it.</returns>
    /// <remarks>Method §5. Formed in float64 from the sparse entries of <c>M</c>, rounded once.</remarks>
    public override Tensor DeltaWeight()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            var zeros = torch.zeros(rank, dtype: ScalarType.Float64, device: _u.device);
            return Compose64(zeros).to(ComputeDType).clone().MoveToOuterDisposeScope();
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

    /// <inheritdoc />
    public override AdaptationMethod Method => AdaptationMethod.Svft;

    /// <inheritdoc />
    private protected override Parameter Trained => _values;

    /// <inheritdoc />
    private protected override bool TrainsOwnTensor => Options.TrainValues;

    /// <inheritdoc />
    internal override Tensor? FrozenSigma => _sigma;

    /// <inheritdoc />
    private protected override string Title => $"SvftLinear ({in_features} -> {out_features}, {Pattern})";

    /// <inheritdoc />
    private protected override AdaptedLayerInfo DescribeMethod(AdaptedLayerInfo info) => info with { SvftPattern = Pattern };

    /// <summary>
    /// Checks the entry positions (<c>svft_rows</c>, <c>svft_cols</c>) an adapter file holds for this layer: band patterns (Plain,
    /// Banded) are evaluated by diagonal slices, so the file's positions must be exactly the band's; Random and Top-k positions are
    /// taken from the file (that is what makes them reload exactly) and must lie in the layer's <c>r × r</c> matrix.
    /// </summary>
    internal override IEnumerable<string> LoadProblems(string name, IReadOnlyDictionary<string, Tensor> loaded)
    {
        if (!loaded.TryGetValue($"{name}.{RowsKey}", out var rowsTensor) || !loaded.TryGetValue($"{name}.{ColsKey}", out var colsTensor))
        {
            yield break;
        }

        var rows = HostValues(rowsTensor);
        var cols = HostValues(colsTensor);
        if (Pattern.Kind is SvftPatternKind.Plain or SvftPatternKind.Banded)
        {
            if (!rows.SequenceEqual(HostValues(_rows)) || !cols.SequenceEqual(HostValues(_cols)))
            {
                yield return $"'{name}' records positions for its {Pattern} entries that are not the band |i - j| <= {Pattern.OffDiagonals}";
            }
        }
        else if (rows.Concat(cols).Any(index => index < 0 || index >= rank))
        {
            yield return $"'{name}' records positions outside its {rank} × {rank} matrix M (indices must lie in [0, {rank}))";
        }
        else if (FirstRepeated(rows, cols) is { } repeated)
        {
            // Random and Top-k draw distinct positions; a repeat would train one entry of M twice and leave another out.
            yield return $"'{name}' records the position ({repeated.Row}, {repeated.Col}) of M twice ({Pattern} entries are distinct positions)";
        }
    }

    private static (long Row, long Col)? FirstRepeated(long[] rows, long[] cols)
    {
        var seen = new HashSet<(long, long)>();
        for (var i = 0; i < rows.Length; i++)
        {
            if (!seen.Add((rows[i], cols[i])))
            {
                return (rows[i], cols[i]);
            }
        }

        return null;
    }

    /// <summary>
    /// Why the layer's own <c>svft_rows</c>/<c>svft_cols</c> cannot be evaluated (not one position per entry of
    /// <c>svft_values</c>, or a position outside <c>[0, r)</c>: they were overwritten, e.g. by <c>load_state_dict</c>), or <c>null</c>.
    /// </summary>
    internal string? PositionProblem()
    {
        using var scope = torch.NewDisposeScope();
        var count = _values.shape[0];
        const string Fix = "They were overwritten (load_state_dict from another layer, or a corrupt state_dict?); load adapters with VectorFitAdapter.Load, which checks them.";
        if (_rows.dim() != 1 || _cols.dim() != 1 || _rows.shape[0] != count || _cols.shape[0] != count)
        {
            return $"{Title}: svft_rows {ThinSvd.ShapeText(_rows.shape)} and svft_cols {ThinSvd.ShapeText(_cols.shape)} do not hold one position per entry of svft_values ({count}). {Fix}";
        }

        if (count == 0)
        {
            return null;
        }

        var low = Math.Min(_rows.min().item<long>(), _cols.min().item<long>());
        var high = Math.Max(_rows.max().item<long>(), _cols.max().item<long>());
        return low < 0 || high >= rank
            ? $"{Title}: svft_rows/svft_cols hold positions in [{low}, {high}], outside its {rank} × {rank} matrix M (indices must lie in [0, {rank})). {Fix}"
            : null;
    }

    /// <inheritdoc />
    private protected override void MoveOwnTensors(ScalarType? dtype, Device? device)
    {
        _values = MoveParameter(ValuesKey, _values, dtype, device);
        _sigma = MoveBuffer(FrozenSigmaKey, _sigma, dtype, device);
        _rows = MoveBuffer(RowsKey, _rows, dtype, device);
        _cols = MoveBuffer(ColsKey, _cols, dtype, device);
    }

    private static SvftLinearOptions Checked(Linear linear, ref SvftLinearOptions? options)
    {
        ArgumentNullException.ThrowIfNull(linear);
        options ??= new SvftLinearOptions();
        options.Validate();
        options.Pattern.ValidateFor(linear.weight.shape[1], linear.weight.shape[0]);
        return options;
    }

    private static long[] HostValues(Tensor tensor)
    {
        using var host = tensor.to(ScalarType.Int64, new Device(DeviceType.CPU));
        return host.data<long>().ToArray();
    }
}

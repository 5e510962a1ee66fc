using TorchSharp;
using static TorchSharp.torch;
using VectorFit.Surgery;

namespace VectorFit;

/// <summary>
/// The frozen thin SVD of a linear layer's weight, <c>W = U · diag(S) · Vᵀ</c>, shared by the
/// VectorFit and SVFT layers.
/// </summary>
/// <remarks>
/// Method §1: the decomposition is taken once, in float64 on the weight's device (so float32 and
/// half-precision layers lose nothing beyond one final rounding), and returned in the weight's dtype; U and V in a
/// narrower factor dtype when the layer asks for one (<see cref="VectorFitLinearOptions.FactorDType"/>), each rounded
/// once from float64 too.
/// The three tensors are detached from every dispose scope: whoever takes them owns them.
/// </remarks>
internal sealed class ThinSvd : IDisposable
{
    private ThinSvd(Tensor u, Tensor s, Tensor v)
    {
        U = u;
        S = s;
        V = v;
    }

    /// <summary>Left singular vectors, <c>(out_features, r)</c>.</summary>
    public Tensor U { get; }

    /// <summary>Singular values, descending, <c>(r)</c>.</summary>
    public Tensor S { get; }

    /// <summary>Right singular vectors (not transposed), <c>(in_features, r)</c>.</summary>
    public Tensor V { get; }

    /// <summary>
    /// The SHA-256 of the decomposed weight's bytes when the one who made this decomposition already computed it (the
    /// SVD cache keys by it), so that the layer does not hash the weight a second time; otherwise <c>null</c>.
    /// </summary>
    public string? WeightSha256 { get; init; }

    /// <summary>r = min(out_features, in_features).</summary>
    public long Rank => S.shape[0];

    /// <summary>
    /// Decomposes <paramref name="weight"/> <c>(out_features, in_features)</c>; the results have its dtype
    /// and device and do not require grad, except U and V, which have <paramref name="factorDType"/> when given.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The weight is not a finite, non-empty, floating-point matrix with values (not on the meta device), or its largest
    /// singular value overflows its dtype.
    /// </exception>
    public static ThinSvd Of(Tensor weight, string paramName, ScalarType? factorDType = null)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.dim() != 2)
        {
            throw new ArgumentException(
                $"{paramName} must be a matrix (out_features, in_features), got shape {ShapeText(weight.shape)}.",
                paramName);
        }

        if (!torch.is_floating_point(weight.dtype))
        {
            throw new ArgumentException(
                $"{paramName} must be floating point (Float16, BFloat16, Float32 or Float64), got {weight.dtype}.",
                paramName);
        }

        if (weight.device_type == DeviceType.META)
        {
            throw new ArgumentException(
                $"{paramName} is on the meta device: it has a shape but no values, so there is nothing to decompose. " +
                "Materialise the model's weights (load the checkpoint, or move it with .to(device)) before adapting it.",
                paramName);
        }

        if (weight.shape[0] == 0 || weight.shape[1] == 0)
        {
            throw new ArgumentException(
                $"{paramName} is empty, shape {ShapeText(weight.shape)}: a layer with no inputs or no outputs has no singular values to train. " +
                "Leave it out of the surgery's targets.",
                paramName);
        }

        var dtype = weight.dtype;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var w64 = weight.detach().to(ScalarType.Float64);
        if (!w64.isfinite().all().item<bool>())
        {
            throw new ArgumentException(
                $"{paramName} contains NaN or infinite values; a singular value decomposition of it is meaningless. " +
                "Repair or reload the base model's weights before adapting the layer.",
                paramName);
        }

        var (u, s, vh) = torch.linalg.svd(w64, fullMatrices: false);
        var largest = s[0].item<double>();
        if (!s.to(dtype).isfinite().all().item<bool>() || !u.isfinite().all().item<bool>() || !vh.isfinite().all().item<bool>())
        {
            // Finite weights whose σ₁ exceeds the dtype's range (float16: 65504) would give σ = ∞ and NaN outputs.
            throw new ArgumentException(
                $"{paramName} is finite but its largest singular value, {largest.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)}, " +
                $"overflows {dtype} (the layer would compute ∞·0 = NaN where the Linear gives finite values). " +
                "Adapt the model in a wider dtype (e.g. model.to(ScalarType.Float32) before the surgery), or leave this layer out of the targets.",
                paramName);
        }

        // U and V are rounded straight from float64 to their storage dtype (never through the weight's dtype first).
        var factors = factorDType ?? dtype;
        var result = new ThinSvd(
            u.to(factors).contiguous().DetachFromDisposeScope(),
            s.to(dtype).contiguous().DetachFromDisposeScope(),
            vh.t().to(factors).contiguous().DetachFromDisposeScope());
        return result;
    }

    /// <summary>Checks that <paramref name="bias"/> fits <paramref name="weight"/>: a vector of <c>out_features</c> values, same dtype and device.</summary>
    /// <exception cref="ArgumentException">It does not.</exception>
    public static void CheckBias(Tensor? bias, Tensor weight, string paramName)
    {
        if (bias is null)
        {
            return;
        }

        if (bias.dim() != 1 || bias.shape[0] != weight.shape[0])
        {
            throw new ArgumentException(
                $"{paramName} has shape {ShapeText(bias.shape)} but the weight {ShapeText(weight.shape)} needs a bias of shape ({weight.shape[0]}) (one value per output). " +
                "Fix the Linear's bias before adapting it.",
                paramName);
        }

        if (bias.dtype != weight.dtype || bias.device_type != weight.device_type || bias.device_index != weight.device_index)
        {
            throw new ArgumentException(
                $"{paramName} is {bias.dtype} on {bias.device} but the weight is {weight.dtype} on {weight.device}; convert the bias to the weight's dtype and device before adapting the layer.",
                paramName);
        }
    }

    /// <summary>
    /// The decomposition a layer adapting <paramref name="linear"/> takes ownership of (from <paramref name="svdSource"/>,
    /// an SVD cache, when given), after checking the bias; U and V in <paramref name="factorDType"/> when given (else the
    /// weight's dtype). <paramref name="sourceWeight"/> is the SHA-256 and dtype of the weight, which the adapter's
    /// base-model fingerprint checks exactly. Nothing is left allocated on failure.
    /// </summary>
    /// <exception cref="ArgumentException">The weight cannot be decomposed or the bias does not fit it.</exception>
    public static ThinSvd ForLinear(
        TorchSharp.Modules.Linear linear, Func<Tensor, string, ScalarType?, ThinSvd>? svdSource, ScalarType? factorDType, out (string Sha256, ScalarType DType) sourceWeight)
    {
        var svd = (svdSource ?? Of)(linear.weight, $"{nameof(linear)}.weight", factorDType);
        try
        {
            CheckBias(linear.bias, linear.weight, $"{nameof(linear)}.bias");
            sourceWeight = (svd.WeightSha256 ?? TensorHash.Sha256(linear.weight), linear.weight.dtype);
            return svd;
        }
        catch
        {
            svd.Dispose();
            throw;
        }
    }

    /// <summary>Takes ownership of factors computed earlier by <see cref="Of"/> (read from an <see cref="SvdCache"/>).</summary>
    public static ThinSvd FromFactors(Tensor u, Tensor s, Tensor v, string? weightSha256 = null)
        => new(u.DetachFromDisposeScope(), s.DetachFromDisposeScope(), v.DetachFromDisposeScope()) { WeightSha256 = weightSha256 };

    /// <summary>
    /// <c>U · diag(d) · Vᵀ</c> for <paramref name="u"/> <c>(out, r)</c>, <paramref name="d"/> <c>(r)</c>,
    /// <paramref name="v"/> <c>(in, r)</c>; returns <c>(out, in)</c>, differentiable in all three.
    /// </summary>
    /// <remarks>Scaling U's columns first costs out·r, the product out·in·r (the "materialised" path of method §1).</remarks>
    public static Tensor Compose(Tensor u, Tensor d, Tensor v)
    {
        // Checked here because Tensor.matmul aborts the process on a shape mismatch (facts #8).
        if (u.dim() != 2 || v.dim() != 2 || d.dim() != 1 || u.shape[1] != d.shape[0] || v.shape[1] != d.shape[0])
        {
            throw new ArgumentException(
                $"U·diag(d)·Vᵀ needs U (out, r), d (r), V (in, r); got U {ShapeText(u.shape)}, d {ShapeText(d.shape)}, V {ShapeText(v.shape)}.");
        }

        using var scaled = u * d;
        return scaled.matmul(v.t());
    }

    /// <summary>Formats a shape as <c>(2, 3)</c> for error messages.</summary>
    public static string ShapeText(long[] shape) => "(" + string.Join(", ", shape) + ")";

    /// <inheritdoc />
    public void Dispose()
    {
        U.Dispose();
        S.Dispose();
        V.Dispose();
    }
}

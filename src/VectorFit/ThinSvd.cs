using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// The frozen thin SVD of a linear layer's weight, <c>W = U · diag(S) · Vᵀ</c>, shared by the
/// VectorFit and SVFT layers.
/// </summary>
/// <remarks>
/// Method §1: the decomposition is taken once, in float64 on the weight's device (so float32 and
/// half-precision layers lose nothing beyond one final rounding), and returned in the weight's dtype.
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

    /// <summary>r = min(out_features, in_features).</summary>
    public long Rank => S.shape[0];

    /// <summary>
    /// Decomposes <paramref name="weight"/> <c>(out_features, in_features)</c>; the results have its dtype
    /// and device and do not require grad.
    /// </summary>
    /// <exception cref="ArgumentException">The weight is not a finite, floating-point matrix.</exception>
    public static ThinSvd Of(Tensor weight, string paramName)
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
        var result = new ThinSvd(
            u.to(dtype).contiguous().DetachFromDisposeScope(),
            s.to(dtype).contiguous().DetachFromDisposeScope(),
            vh.t().to(dtype).contiguous().DetachFromDisposeScope());
        return result;
    }

    /// <summary>Takes ownership of factors computed earlier by <see cref="Of"/> (read from an <see cref="SvdCache"/>).</summary>
    public static ThinSvd FromFactors(Tensor u, Tensor s, Tensor v)
        => new(u.DetachFromDisposeScope(), s.DetachFromDisposeScope(), v.DetachFromDisposeScope());

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

using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>Which side of <c>S = diag(σ) + M</c> a tensor meets.</summary>
internal enum SvftSide
{
    /// <summary><c>w = z·Sᵀ</c> for <c>z = x·V</c> <c>(*, r)</c>: <c>w_i = σ_i z_i + Σ_j M_ij z_j</c> (factored forward).</summary>
    Input,

    /// <summary><c>A = U·S</c> for <c>U</c> <c>(out, r)</c>: <c>A_j = σ_j U_j + Σ_i M_ij U_i</c> (materialised weight).</summary>
    Output,
}

/// <summary>
/// Products with SVFT's <c>S = diag(σ) + M</c> that never form the dense <c>r × r</c> matrix: cost and memory grow with
/// the pattern's entry count, not with <c>r²</c>.
/// </summary>
/// <remarks>
/// Band patterns take one slice per diagonal: the main diagonal folds into σ (<c>t ⊙ (σ + m₀)</c>), each other diagonal
/// <c>k</c> adds <c>m_k ⊙ t[…, i + k]</c> into the slice <c>[…, i]</c> (or the transpose), in place on views — no gather
/// copies, and autograd keeps only views of <c>t</c>. Scattered patterns (Random, Top-k) gather the needed columns with
/// <c>index_select</c>, scale them by the values and <c>index_add</c> them into place. Both are exact (no reassociation
/// beyond summation order), and both are differentiable in <c>t</c> and the values.
/// </remarks>
internal static class SvftProduct
{
    /// <summary>
    /// <c>t·Sᵀ</c> (<see cref="SvftSide.Input"/>) or <c>t·S</c> (<see cref="SvftSide.Output"/>) for <paramref name="t"/>
    /// <c>(*, r)</c>; returns a new <c>(*, r)</c> tensor. <paramref name="diagonals"/> selects the band evaluation; when
    /// null, the index evaluation with <paramref name="rows"/> and <paramref name="cols"/>.
    /// </summary>
    public static Tensor Apply(
        Tensor t, Tensor sigma, Tensor values, Tensor rows, Tensor cols, IReadOnlyList<SvftDiagonal>? diagonals, SvftSide side)
    {
        var dim = t.dim() - 1;
        return diagonals is null
            ? ApplyScattered(t, sigma, values, side == SvftSide.Input ? cols : rows, side == SvftSide.Input ? rows : cols, dim)
            : ApplyBand(t, sigma, values, diagonals, side, dim);
    }

    /// <summary>
    /// The weight <c>U·(diag(σ) + M)·Vᵀ</c> <c>(out, in)</c>, differentiable in the values; computed in the inputs' dtype.
    /// </summary>
    public static Tensor Compose(
        Tensor u, Tensor sigma, Tensor values, Tensor rows, Tensor cols, IReadOnlyList<SvftDiagonal>? diagonals, Tensor v)
    {
        // Shapes checked here because Tensor.matmul aborts the process on a mismatch (facts #8).
        if (u.dim() != 2 || v.dim() != 2 || u.shape[1] != sigma.shape[0] || v.shape[1] != sigma.shape[0])
        {
            throw new ArgumentException(
                $"U·(diag(σ) + M)·Vᵀ needs U (out, r), σ (r), V (in, r); got U {ThinSvd.ShapeText(u.shape)}, σ {ThinSvd.ShapeText(sigma.shape)}, V {ThinSvd.ShapeText(v.shape)}.");
        }

        using var scaled = Apply(u, sigma, values, rows, cols, diagonals, SvftSide.Output);
        return scaled.matmul(v.t());
    }

    private static Tensor ApplyScattered(Tensor t, Tensor sigma, Tensor values, Tensor from, Tensor to, long dim)
    {
        using var gathered = t.index_select(dim, from);
        using var weighted = gathered * values;
        using var diagonal = t * sigma;
        return diagonal.index_add(dim, to, weighted, 1);
    }

    private static Tensor ApplyBand(Tensor t, Tensor sigma, Tensor values, IReadOnlyList<SvftDiagonal> diagonals, SvftSide side, long dim)
    {
        // diagonals[d] is the main diagonal (offsets run −d … d).
        var main = diagonals[diagonals.Count / 2];
        using var mainValues = values.narrow(0, main.ValueStart, main.Length);
        using var scale = sigma + mainValues;
        var result = t * scale;
        foreach (var diagonal in diagonals)
        {
            if (diagonal.Offset == 0)
            {
                continue;
            }

            var (fromStart, toStart) = side == SvftSide.Input
                ? (diagonal.ColumnStart, diagonal.RowStart)
                : (diagonal.RowStart, diagonal.ColumnStart);
            using var source = t.narrow(dim, fromStart, diagonal.Length);
            using var diagonalValues = values.narrow(0, diagonal.ValueStart, diagonal.Length);
            using var term = source * diagonalValues;
            using var target = result.narrow(dim, toStart, diagonal.Length);
            target.add_(term);
        }

        return result;
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>Which side of <c>S = diag(σ) + M</c> a tensor meets; tensors are laid out with one row per singular direction.</summary>
internal enum SvftSide
{
    /// <summary><c>wᵀ = S·zᵀ</c> for <c>zᵀ = Vᵀ·xᵀ</c> <c>(r, N)</c>: row <c>i</c> is <c>σ_i z_i + Σ_j M_ij z_j</c> (factored forward).</summary>
    Input,

    /// <summary><c>Aᵀ = Sᵀ·Uᵀ</c> for <c>Uᵀ</c> <c>(r, out)</c>: row <c>j</c> is <c>σ_j u_j + Σ_i M_ij u_i</c> (materialised weight <c>A·Vᵀ</c>).</summary>
    Output,
}

/// <summary>
/// Products with SVFT's <c>S = diag(σ) + M</c> that never form the dense <c>r × r</c> matrix: cost and memory grow with
/// the pattern's entry count, not with <c>r²</c>.
/// </summary>
/// <remarks>
/// The operand is laid out <c>(r, columns)</c>, one contiguous row per singular direction, so every access below moves
/// whole rows (measured faster on CPU than the same products on <c>(columns, r)</c>, where scattering by column is a
/// strided loop per entry). Band patterns take one slice per diagonal: the main diagonal folds into σ
/// (<c>t ⊙ (σ + m₀)</c>), each other diagonal <c>k</c> adds <c>m_k ⊙ t[i + k]</c> into rows <c>i</c> (or the transpose), in
/// place on row blocks — no gather copies, and autograd keeps only views of <c>t</c>. Scattered patterns (Random, Top-k)
/// gather the needed rows with <c>index_select</c>, scale them by the values and <c>index_add</c> them into place. Both are
/// exact (only the summation order differs from the dense product) and differentiable in <c>t</c> and the values.
/// </remarks>
internal static class SvftProduct
{
    /// <summary>
    /// <c>S·t</c> (<see cref="SvftSide.Input"/>) or <c>Sᵀ·t</c> (<see cref="SvftSide.Output"/>) for <paramref name="t"/>
    /// <c>(r, columns)</c>; returns a new <c>(r, columns)</c> tensor. <paramref name="diagonals"/> selects the band evaluation;
    /// when null, the index evaluation with <paramref name="rows"/> and <paramref name="cols"/>.
    /// </summary>
    public static Tensor Apply(
        Tensor t, Tensor sigma, Tensor values, Tensor rows, Tensor cols, IReadOnlyList<SvftDiagonal>? diagonals, SvftSide side)
    {
        using var sigmaColumn = sigma.unsqueeze(1);
        return diagonals is null
            ? ApplyScattered(t, sigmaColumn, values, side == SvftSide.Input ? cols : rows, side == SvftSide.Input ? rows : cols)
            : ApplyBand(t, sigmaColumn, values, diagonals, side);
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

        using var uRows = u.t().contiguous();
        using var scaledRows = Apply(uRows, sigma, values, rows, cols, diagonals, SvftSide.Output);
        using var scaled = scaledRows.t();
        using var vt = v.t();
        return scaled.matmul(vt);
    }

    private static Tensor ApplyScattered(Tensor t, Tensor sigmaColumn, Tensor values, Tensor from, Tensor to)
    {
        using var gathered = t.index_select(0, from);
        using var valueColumn = values.unsqueeze(1);
        using var weighted = gathered * valueColumn;
        using var diagonal = t * sigmaColumn;
        return diagonal.index_add(0, to, weighted, HeldScalars.One);
    }

    private static Tensor ApplyBand(Tensor t, Tensor sigmaColumn, Tensor values, IReadOnlyList<SvftDiagonal> diagonals, SvftSide side)
    {
        // diagonals[d] is the main diagonal (offsets run −d … d).
        var main = diagonals[diagonals.Count / 2];
        using var mainValues = values.narrow(0, main.ValueStart, main.Length);
        using var mainColumn = mainValues.unsqueeze(1);
        using var scale = sigmaColumn.add(mainColumn, HeldScalars.One);
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
            using var source = t.narrow(0, fromStart, diagonal.Length);
            using var diagonalValues = values.narrow(0, diagonal.ValueStart, diagonal.Length);
            using var valueColumn = diagonalValues.unsqueeze(1);
            using var term = source * valueColumn;
            using var target = result.narrow(0, toStart, diagonal.Length);
            target.add_(term, HeldScalars.One);
        }

        return result;
    }
}

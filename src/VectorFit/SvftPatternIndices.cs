using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>One diagonal of a band pattern: <c>M[i, i + Offset]</c> for <c>i = RowStart … RowStart + Length − 1</c>, stored at <c>values[ValueStart …]</c>.</summary>
/// <param name="Offset"><c>k = j − i</c>, from <c>−d</c> to <c>d</c>.</param>
/// <param name="RowStart">The first row, <c>max(0, −k)</c>.</param>
/// <param name="Length"><c>r − |k|</c>.</param>
/// <param name="ValueStart">Where the diagonal starts in the value vector.</param>
internal readonly record struct SvftDiagonal(long Offset, long RowStart, long Length, long ValueStart)
{
    /// <summary>The first column, <c>RowStart + Offset</c>.</summary>
    public long ColumnStart => RowStart + Offset;
}

/// <summary>
/// The positions of the trainable entries of <c>M</c> for each <see cref="SvftPattern"/>: row and column indices in
/// the order of the value vector. Band patterns (Plain, Banded) are stored diagonal by diagonal (offsets −d … d), so
/// each diagonal is a contiguous slice; Random and Top-k positions are sorted row-major.
/// </summary>
internal static class SvftPatternIndices
{
    /// <summary>The diagonals of the band <c>|i − j| ≤ d</c> of an <c>r × r</c> matrix, in value order.</summary>
    public static SvftDiagonal[] Band(long rank, int offDiagonals)
    {
        var diagonals = new SvftDiagonal[(2 * offDiagonals) + 1];
        long start = 0;
        for (var k = -offDiagonals; k <= offDiagonals; k++)
        {
            var length = rank - Math.Abs(k);
            diagonals[k + offDiagonals] = new SvftDiagonal(k, Math.Max(0, -k), length, start);
            start += length;
        }

        return diagonals;
    }

    /// <summary>
    /// Row and column indices of the pattern's entries. <paramref name="u"/> <c>(out, r)</c> and <paramref name="v"/>
    /// <c>(in, r)</c> are used by Top-k only. The pattern must already be valid for the layer.
    /// </summary>
    public static (long[] Rows, long[] Cols) Build(SvftPattern pattern, long rank, Tensor u, Tensor v)
    {
        var count = pattern.EntryCount(rank);
        switch (pattern.Kind)
        {
            case SvftPatternKind.Plain:
            case SvftPatternKind.Banded:
                var rows = new long[count];
                var cols = new long[count];
                foreach (var diagonal in Band(rank, pattern.OffDiagonals))
                {
                    for (long i = 0; i < diagonal.Length; i++)
                    {
                        rows[diagonal.ValueStart + i] = diagonal.RowStart + i;
                        cols[diagonal.ValueStart + i] = diagonal.ColumnStart + i;
                    }
                }

                return (rows, cols);
            case SvftPatternKind.Random:
                return Split(RandomPositions(rank * rank, count, pattern.Seed), rank);
            case SvftPatternKind.TopK:
                return Split(TopKPositions(u, v, count), rank);
            default:
                throw new ArgumentOutOfRangeException(nameof(pattern), pattern.Kind, $"Unknown SVFT pattern kind {pattern.Kind}.");
        }
    }

    /// <summary>
    /// <paramref name="count"/> distinct positions in <c>[0, total)</c>, uniformly chosen, sorted: Floyd's sampling
    /// driven by SplitMix64, pure integer arithmetic, so every platform and run draws the same set.
    /// </summary>
    public static long[] RandomPositions(long total, long count, long seed)
    {
        var random = new SplitMix64(unchecked((ulong)seed));
        var chosen = new HashSet<long>();
        for (var j = total - count; j < total; j++)
        {
            var t = (long)random.NextBelow((ulong)j + 1);
            chosen.Add(chosen.Contains(t) ? j : t);
        }

        var positions = chosen.ToArray();
        Array.Sort(positions);
        return positions;
    }

    /// <summary>The row-major positions of the <paramref name="count"/> largest <c>|u_iᵀ v_j|</c> (ties to the smaller position), sorted.</summary>
    private static long[] TopKPositions(Tensor u, Tensor v, long count)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // Scores in float64 so float32/16-bit layers rank as their exact singular vectors do; a stable descending
        // sort breaks ties by position, where topk's order is unspecified.
        var scores = u.detach().to(ScalarType.Float64).t().matmul(v.detach().to(ScalarType.Float64)).abs().reshape(-1);
        var (_, order) = scores.sort(0, descending: true, stable: true);
        var top = order.narrow(0, 0, count).to(ScalarType.Int64, new Device(DeviceType.CPU));
        var positions = top.data<long>().ToArray();
        Array.Sort(positions);
        return positions;
    }

    private static (long[] Rows, long[] Cols) Split(long[] positions, long rank)
    {
        var rows = new long[positions.Length];
        var cols = new long[positions.Length];
        for (var n = 0; n < positions.Length; n++)
        {
            rows[n] = positions[n] / rank;
            cols[n] = positions[n] % rank;
        }

        return (rows, cols);
    }
}

/// <summary>SplitMix64 (Steele, Lea and Flood 2014): a tiny, fully specified 64-bit generator, so seeded draws never depend on a runtime's RNG.</summary>
internal struct SplitMix64
{
    private ulong _state;

    /// <summary>Starts the stream at <paramref name="seed"/>.</summary>
    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong Next()
    {
        _state = unchecked(_state + 0x9E3779B97F4A7C15UL);
        var z = _state;
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>A uniform value in <c>[0, bound)</c>, without modulo bias (draws in the incomplete top block are rejected).</summary>
    public ulong NextBelow(ulong bound)
    {
        // 2^64 = q·bound + rest; accepting x ≤ 2^64 − 1 − rest keeps exactly q·bound equally likely values.
        var rest = ((ulong.MaxValue % bound) + 1) % bound;
        var limit = ulong.MaxValue - rest;
        ulong x;
        do
        {
            x = Next();
        }
        while (x > limit);

        return x % bound;
    }
}

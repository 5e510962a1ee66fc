using System.Globalization;

namespace VectorFit;

/// <summary>The four ways SVFT fixes which entries of its <c>r × r</c> matrix <c>M</c> train (method §5, SVFT paper §3).</summary>
public enum SvftPatternKind
{
    /// <summary>Plain (P): <c>M</c> is diagonal; <c>r</c> entries.</summary>
    Plain = 0,

    /// <summary>Banded (B_d): <c>M_ij</c> trains for <c>|i − j| ≤ d</c>.</summary>
    Banded,

    /// <summary>Random (R_d): as many entries as B_d, at positions drawn from a seed.</summary>
    Random,

    /// <summary>Top-k (T_d): as many entries as B_d, those with the largest <c>|u_iᵀ v_j|</c> (square layers only).</summary>
    TopK,
}

/// <summary>
/// Which entries of SVFT's matrix <c>M</c> train: a kind and <c>d</c>, the number of off-diagonals on each side of the
/// diagonal (for Random and Top-k, <c>d</c> sets the count only). Build one with <see cref="Plain"/>,
/// <see cref="Banded"/>, <see cref="Random"/> or <see cref="TopK"/>.
/// </summary>
/// <remarks>
/// Method §5. Every kind but Plain trains <see cref="EntryCount"/> <c>= r·(2d+1) − d·(d+1)</c> entries of the
/// <c>r × r</c> matrix, the size of the band <c>|i − j| ≤ d</c>; Plain trains <c>r</c> (the band with <c>d = 0</c>).
/// <c>d</c> must be below <c>r</c> (<c>d = r − 1</c> already fills <c>M</c>); the layer checks that, since only it knows <c>r</c>.
/// </remarks>
public sealed record SvftPattern
{
    /// <summary>Creates a pattern; prefer the factories <see cref="Plain"/>, <see cref="Banded"/>, <see cref="Random"/>, <see cref="TopK"/>.</summary>
    /// <param name="kind">The kind of pattern.</param>
    /// <param name="offDiagonals"><c>d</c>, at least 0; must be 0 for <see cref="SvftPatternKind.Plain"/>.</param>
    /// <param name="seed">The seed of a <see cref="SvftPatternKind.Random"/> pattern; must be 0 for the other kinds.</param>
    /// <exception cref="ArgumentException">The kind is undefined, <paramref name="offDiagonals"/> is negative or not 0 for Plain, or a seed is given for a kind without one.</exception>
    public SvftPattern(SvftPatternKind kind, int offDiagonals = 0, long seed = 0)
    {
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentException(
                $"SVFT pattern kind {(int)kind} is not defined; use one of {string.Join(", ", Enum.GetNames<SvftPatternKind>())}.", nameof(kind));
        }

        if (offDiagonals < 0)
        {
            throw new ArgumentException(
                $"The SVFT pattern's d (off-diagonals on each side of M's diagonal) must be at least 0, got {offDiagonals}. Use 0 for a diagonal-sized pattern.",
                nameof(offDiagonals));
        }

        if (kind == SvftPatternKind.Plain && offDiagonals != 0)
        {
            throw new ArgumentException(
                $"A Plain SVFT pattern is diagonal (d = 0), got d = {offDiagonals}. Use SvftPattern.Banded({offDiagonals}) to train off-diagonals.",
                nameof(offDiagonals));
        }

        if (kind != SvftPatternKind.Random && seed != 0)
        {
            throw new ArgumentException(
                $"Only Random SVFT patterns take a seed; a {kind} pattern got seed {seed}. Leave the seed at 0, or use SvftPattern.Random(d, seed).",
                nameof(seed));
        }

        Kind = kind;
        OffDiagonals = offDiagonals;
        Seed = seed;
    }

    /// <summary>The plain pattern: <c>M</c> diagonal, <c>r</c> entries (VectorFit's σ without bias or AVF).</summary>
    public static SvftPattern Plain { get; } = new(SvftPatternKind.Plain);

    /// <summary>The kind of pattern.</summary>
    public SvftPatternKind Kind { get; }

    /// <summary><c>d</c>: off-diagonals on each side of the diagonal (Banded), or the size parameter of the count (Random, Top-k).</summary>
    public int OffDiagonals { get; }

    /// <summary>The seed of a Random pattern (0 for the other kinds).</summary>
    public long Seed { get; }

    /// <summary>The banded pattern B_d: <c>M_ij</c> trains for <c>|i − j| ≤ d</c>.</summary>
    /// <param name="offDiagonals"><c>d ≥ 0</c>, below the rank of every layer it is applied to.</param>
    /// <returns>The pattern.</returns>
    /// <exception cref="ArgumentException"><paramref name="offDiagonals"/> is negative.</exception>
    public static SvftPattern Banded(int offDiagonals) => new(SvftPatternKind.Banded, offDiagonals);

    /// <summary>
    /// The random pattern R_d: as many entries as B_d at uniformly drawn distinct positions of <c>M</c>. The positions
    /// depend only on <c>r</c>, <c>d</c> and <paramref name="seed"/> (a SplitMix64 stream, the same on every platform and
    /// run), so layers of equal rank share them.
    /// </summary>
    /// <param name="offDiagonals"><c>d ≥ 0</c>, below the rank of every layer it is applied to.</param>
    /// <param name="seed">Any value; equal seeds give equal positions.</param>
    /// <returns>The pattern.</returns>
    /// <exception cref="ArgumentException"><paramref name="offDiagonals"/> is negative.</exception>
    public static SvftPattern Random(int offDiagonals, long seed) => new(SvftPatternKind.Random, offDiagonals, seed);

    /// <summary>
    /// The top-k pattern T_d: as many entries as B_d, those with the largest alignment <c>|u_iᵀ v_j|</c> between left and
    /// right singular vectors (ties go to the smaller row-major position). Square layers only.
    /// </summary>
    /// <param name="offDiagonals"><c>d ≥ 0</c>, below the rank of every layer it is applied to.</param>
    /// <returns>The pattern.</returns>
    /// <exception cref="ArgumentException"><paramref name="offDiagonals"/> is negative.</exception>
    public static SvftPattern TopK(int offDiagonals) => new(SvftPatternKind.TopK, offDiagonals);

    /// <summary>The number of trainable entries of <c>M</c> for rank <paramref name="rank"/>: <c>r·(2d+1) − d·(d+1)</c> (method §5).</summary>
    /// <param name="rank"><c>r</c>, greater than <see cref="OffDiagonals"/>.</param>
    /// <returns>The entry count (<c>r</c> for Plain and <c>d = 0</c>; <c>r²</c> for <c>d = r − 1</c>).</returns>
    /// <exception cref="ArgumentException"><paramref name="rank"/> is not above <c>d</c>.</exception>
    public long EntryCount(long rank)
    {
        if (rank <= OffDiagonals)
        {
            throw new ArgumentException(
                $"SVFT pattern {this} needs d < r: M is {rank} × {rank}, so d can be at most {rank - 1} (which fills M), got d = {OffDiagonals}. " +
                "Lower d, or exclude the layers of small rank from the targets.",
                nameof(rank));
        }

        return checked((rank * ((2L * OffDiagonals) + 1)) - ((long)OffDiagonals * (OffDiagonals + 1)));
    }

    /// <summary>Checks that the pattern applies to a layer of the given shape; throws naming the layer, the value and the fix.</summary>
    /// <param name="inFeatures"><c>d_in</c>.</param>
    /// <param name="outFeatures"><c>d_out</c>.</param>
    /// <exception cref="ArgumentException"><c>d ≥ r</c>, or a Top-k pattern on a non-square layer.</exception>
    public void ValidateFor(long inFeatures, long outFeatures)
    {
        if (ProblemFor(inFeatures, outFeatures) is { } problem)
        {
            throw new ArgumentException(problem, "options");
        }
    }

    /// <summary>Why the pattern does not fit a layer of the given shape, or <c>null</c> when it fits.</summary>
    internal string? ProblemFor(long inFeatures, long outFeatures)
    {
        var rank = Math.Min(inFeatures, outFeatures);
        if (rank <= OffDiagonals)
        {
            return $"SVFT pattern {this} needs d < r for the layer {inFeatures} -> {outFeatures}: M is {rank} × {rank}, so d can be at most {rank - 1} (which fills M), got d = {OffDiagonals}. " +
                "Lower d, or exclude the layers of small rank from the targets.";
        }

        if (Kind == SvftPatternKind.TopK && inFeatures != outFeatures)
        {
            return $"SVFT pattern {this} needs a square layer, got {inFeatures} -> {outFeatures} (in_features {inFeatures}, out_features {outFeatures}): " +
                "the alignments |u_iᵀ v_j| compare left and right singular vectors, which then differ in length. " +
                "Use Banded or Random for non-square layers, or restrict the targets to square ones (e.g. q, k, v, o).";
        }

        return null;
    }

    /// <summary>The pattern as SVFT names it: <c>Plain</c>, <c>Banded(d=2)</c>, <c>Random(d=2, seed=7)</c>, <c>TopK(d=2)</c>.</summary>
    /// <returns>The description.</returns>
    public override string ToString() => Kind switch
    {
        SvftPatternKind.Plain => "Plain",
        SvftPatternKind.Random => string.Create(CultureInfo.InvariantCulture, $"Random(d={OffDiagonals}, seed={Seed})"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{Kind}(d={OffDiagonals})"),
    };
}

namespace GlueFineTune.Training;

/// <summary>
/// The order of the training examples in each epoch: a Fisher–Yates shuffle driven by SplitMix64 seeded from
/// (seed, epoch), so a resumed run sees exactly the batches the uninterrupted run would have.
/// </summary>
internal static class EpochOrder
{
    /// <summary>The permutation of <c>0 … count − 1</c> for <paramref name="epoch"/>.</summary>
    /// <param name="count">Examples.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="epoch">The epoch (0-based).</param>
    /// <returns>The permutation.</returns>
    public static int[] Permutation(int count, int seed, int epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        ulong state = ((ulong)(uint)seed << 32) ^ (uint)epoch ^ 0x5DEECE66DUL;
        for (int i = count - 1; i > 0; i--)
        {
            int j = (int)(Next(ref state) % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }

        return order;
    }

    /// <summary>The libtorch seed for step <paramref name="step"/>: dropout masks depend only on (seed, step).</summary>
    /// <param name="seed">The run's seed.</param>
    /// <param name="step">The step (1-based).</param>
    /// <returns>A seed.</returns>
    public static long StepSeed(int seed, long step)
    {
        ulong state = ((ulong)(uint)seed << 32) ^ (ulong)step;
        return (long)(Next(ref state) >> 1);
    }

    private static ulong Next(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        ulong z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

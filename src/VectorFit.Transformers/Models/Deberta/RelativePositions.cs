using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>
/// DeBERTa's relative positions: <c>δ(i, j) = i − j</c> between query <c>i</c> and key <c>j</c>, log-bucketed
/// beyond half the bucket count (DeBERTa-v3: 256 buckets, maximum position 512).
/// </summary>
/// <remarks>
/// Bucketing (Hugging Face <c>make_log_bucket_position</c>): with <c>mid = buckets / 2</c>, a distance with
/// <c>|δ| ≤ mid</c> is kept; otherwise it becomes
/// <c>sign(δ) · (mid + ⌈log(|δ| / mid) / log((max − 1) / mid) · (mid − 1)⌉)</c>. The arithmetic is float32,
/// as in PyTorch, so the buckets match the reference implementation's.
/// </remarks>
internal static class RelativePositions
{
    /// <summary>The bucket of one relative distance.</summary>
    /// <param name="relative">The distance <c>i − j</c>.</param>
    /// <param name="bucketSize">The number of buckets (<c>position_buckets</c>); ≤ 0 disables bucketing.</param>
    /// <param name="maxPosition">The largest position (<c>max_relative_positions</c>); ≤ 0 disables bucketing.</param>
    /// <returns>The bucketed distance, in <c>[−(bucketSize − 1), bucketSize − 1]</c> for distances below <paramref name="maxPosition"/>.</returns>
    public static long Bucket(long relative, int bucketSize, int maxPosition)
    {
        if (bucketSize <= 0 || maxPosition <= 0)
        {
            return relative;
        }

        long mid = bucketSize / 2;
        long absolute = Math.Abs(relative);
        if (absolute <= mid)
        {
            return relative;
        }

        float ratio = MathF.Log(absolute / (float)mid) / MathF.Log((maxPosition - 1) / (float)mid);
        long logPosition = (long)MathF.Ceiling(ratio * (mid - 1)) + mid;
        return Math.Sign(relative) * logPosition;
    }

    /// <summary>The bucketed relative positions of every query/key pair.</summary>
    /// <param name="querySize">Query positions <c>0 … querySize − 1</c>.</param>
    /// <param name="keySize">Key positions <c>0 … keySize − 1</c>.</param>
    /// <param name="bucketSize">The number of buckets; ≤ 0 disables bucketing.</param>
    /// <param name="maxPosition">The largest position; ≤ 0 disables bucketing.</param>
    /// <param name="device">Where to create the tensor.</param>
    /// <returns>An int64 tensor <c>(querySize, keySize)</c> with entry <c>(i, j) = bucket(i − j)</c>.</returns>
    public static Tensor Build(long querySize, long keySize, int bucketSize, int maxPosition, Device? device = null)
    {
        var values = new long[querySize * keySize];
        for (long i = 0; i < querySize; i++)
        {
            for (long j = 0; j < keySize; j++)
            {
                values[(i * keySize) + j] = Bucket(i - j, bucketSize, maxPosition);
            }
        }

        return tensor(values, [querySize, keySize], device: device);
    }
}

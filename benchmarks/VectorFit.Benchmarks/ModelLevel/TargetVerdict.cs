using System.Globalization;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>One target of the results page as a line: what is measured, its limit with the direction, the measurement, ✓ or ✗.</summary>
public static class TargetVerdict
{
    /// <summary>
    /// <c>- {what} ≤ {limit}: {ratio} ✓</c> when <paramref name="ratio"/> is at most <paramref name="limit"/> (smaller is
    /// better: a faster or smaller result is never a miss), otherwise the same with ✗ and how far over; null without a
    /// measurement (null, NaN or infinite).
    /// </summary>
    /// <param name="what">The measured ratio, written as "a ÷ b".</param>
    /// <param name="ratio">Its value.</param>
    /// <param name="limit">The most it may be.</param>
    public static string? AtMost(string what, double? ratio, double limit)
    {
        if (ratio is not { } value || double.IsNaN(value) || double.IsInfinity(value))
        {
            return null;
        }

        var line = string.Create(CultureInfo.InvariantCulture, $"- {what} ≤ {limit:0.00}: {value:0.00}");
        return value <= limit
            ? line + " ✓"
            : line + string.Create(CultureInfo.InvariantCulture, $" ✗ ({(value - limit) / limit:0%} over)");
    }
}

namespace GlueFineTune.Training;

/// <summary>The learning rate at each step (no warmup, as the paper's Appendix C).</summary>
internal static class LearningRates
{
    /// <summary>The rate for optimizer step <paramref name="step"/> (1-based) of <paramref name="totalSteps"/>.</summary>
    /// <param name="schedule">Linear decay or constant.</param>
    /// <param name="initial">The initial rate.</param>
    /// <param name="step">The step about to be taken, 1 … <paramref name="totalSteps"/>.</param>
    /// <param name="totalSteps">Steps in the whole run.</param>
    /// <returns><c>initial</c> for constant; <c>initial · (total − step + 1) / total</c> for linear, so step 1 uses the full rate.</returns>
    public static double At(LearningRateSchedule schedule, double initial, long step, long totalSteps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(totalSteps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        return schedule switch
        {
            LearningRateSchedule.Constant => initial,
            LearningRateSchedule.Linear => initial * Math.Max(0, totalSteps - step + 1) / totalSteps,
            _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule, "unknown schedule; use Linear or Constant."),
        };
    }
}

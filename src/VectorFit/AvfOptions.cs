namespace VectorFit;

/// <summary>
/// The Adaptive Vector Freezing schedule (method §3): first AVF step <c>t_i</c>, one every <c>t_f</c>
/// steps, <c>n_f</c> AVF steps in all, <c>k</c> vectors frozen at each, smoothing <c>β</c>.
/// </summary>
/// <remarks>
/// Steps are optimizer steps counted from 1: the first call of <see cref="AvfScheduler.step"/> (after the
/// first <c>optimizer.step()</c>) is step 1, and the AVF steps are <c>t_i + j·t_f</c> for
/// <c>j = 0 … n_f − 1</c>. <see cref="AvfSteps"/> = 0 is the paper's "no AVF" variant. Build a schedule from
/// the paper's guidance with <see cref="FromEpochs"/>, or take the paper's settings from <see cref="AvfPresets"/>.
/// </remarks>
public sealed record AvfOptions
{
    /// <summary>The paper's smoothing factor β for the training strengths (method §3).</summary>
    public const double DefaultBeta = 0.99;

    /// <summary>The paper's number of vectors frozen per AVF step (Appendix C: k = 5 everywhere).</summary>
    public const int DefaultK = 5;

    // Appendix C: the first AVF step after about 11 epochs.
    private const double PaperInitialEpochs = 11;

    /// <summary>No AVF: every trainable vector trains for the whole run (the ablation "no AVF", method §2).</summary>
    public static AvfOptions None { get; } = new() { InitialStep = 1, Interval = 1, AvfSteps = 0 };

    /// <summary><c>t_i</c>: the optimizer step (counted from 1) of the first AVF step. At least 1.</summary>
    public required long InitialStep { get; init; }

    /// <summary><c>t_f</c>: optimizer steps between consecutive AVF steps. At least 1.</summary>
    public required long Interval { get; init; }

    /// <summary><c>n_f</c>: the number of AVF steps; 0 disables AVF. After the last one the frozen set stays frozen.</summary>
    public required int AvfSteps { get; init; }

    /// <summary><c>k</c>: vectors frozen at each AVF step (default 5); at most the number of trainable vectors.</summary>
    public int K { get; init; } = DefaultK;

    /// <summary><c>β</c>: smoothing of the training strengths, in [0, 1) (default 0.99).</summary>
    public double Beta { get; init; } = DefaultBeta;

    /// <summary><c>true</c> when the schedule has at least one AVF step.</summary>
    public bool Enabled => AvfSteps > 0;

    /// <summary>The step of the last AVF step, <c>t_i + (n_f − 1)·t_f</c>, or <c>null</c> when AVF is off.</summary>
    public long? LastAvfStep => Enabled ? InitialStep + ((AvfSteps - 1) * Interval) : null;

    /// <summary>Whether optimizer step <paramref name="step"/> (counted from 1) is an AVF step.</summary>
    /// <param name="step">An optimizer step number, 1 for the first.</param>
    /// <returns><c>true</c> for <c>t_i + j·t_f</c>, <c>0 ≤ j &lt; n_f</c>.</returns>
    public bool IsAvfStep(long step)
        => Enabled && step >= InitialStep && (step - InitialStep) % Interval == 0 && (step - InitialStep) / Interval < AvfSteps;

    /// <summary>Checks every field; throws naming the field, the value and the fix.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A field is out of range.</exception>
    public void Validate()
    {
        if (AvfSteps < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(AvfSteps), AvfSteps,
                $"AvfSteps (n_f) must be 0 (no AVF) or more, got {AvfSteps}.");
        }

        if (InitialStep < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(InitialStep), InitialStep,
                $"InitialStep (t_i) must be at least 1 (steps are counted from 1), got {InitialStep}. The paper uses about 11 epochs of steps.");
        }

        if (Interval < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Interval), Interval,
                $"Interval (t_f) must be at least 1 step, got {Interval}. The paper uses about one epoch of steps.");
        }

        if (K < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(K), K,
                $"K must be 0 or more (vectors frozen per AVF step), got {K}. The paper uses 5.");
        }

        if (!(Beta >= 0 && Beta < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Beta), Beta,
                $"Beta must be in [0, 1), got {Beta}. The paper uses 0.99.");
        }

        if (Enabled && (AvfSteps - 1) > (long.MaxValue - InitialStep) / Interval)
        {
            throw new ArgumentOutOfRangeException(nameof(AvfSteps), AvfSteps,
                $"The last AVF step InitialStep + (AvfSteps - 1) * Interval overflows a 64-bit step count (InitialStep {InitialStep}, Interval {Interval}, AvfSteps {AvfSteps}); use a shorter schedule.");
        }
    }

    /// <summary>
    /// A schedule for a run of <paramref name="totalEpochs"/> epochs, from the paper's guidance (Appendix C) scaled to fit short runs:
    /// the first AVF step after <see cref="DefaultInitialEpochs"/> = <c>min(11 epochs, 40 % of the run)</c>, then one every
    /// <see cref="DefaultIntervalEpochs"/> = <c>min(1 epoch, 10 % of the run)</c>, as many as fit, <paramref name="k"/> = 5.
    /// </summary>
    /// <remarks>
    /// From 27.5 epochs on this is the paper's guidance (after about 11 epochs, then one per epoch); a shorter run starts AVF at 40 %
    /// of training, so every run length gets AVF steps (a 3-epoch run: from epoch 1.2 every 0.3 epoch, 7 AVF steps). Explicit
    /// <paramref name="initialEpochs"/> and <paramref name="intervalEpochs"/> are taken as given, and must fit.
    /// </remarks>
    /// <param name="stepsPerEpoch">Optimizer steps per epoch (batches per epoch), at least 1.</param>
    /// <param name="totalEpochs">Length of training in epochs; every AVF step falls inside it.</param>
    /// <param name="avfSteps"><c>n_f</c>; <c>null</c> for as many AVF steps as fit in training.</param>
    /// <param name="initialEpochs"><c>t_i</c> in epochs (rounded to whole steps, at least 1 step); <c>null</c> for <see cref="DefaultInitialEpochs"/>.</param>
    /// <param name="intervalEpochs"><c>t_f</c> in epochs (rounded to whole steps, at least 1 step); <c>null</c> for <see cref="DefaultIntervalEpochs"/>.</param>
    /// <param name="k">Vectors frozen per AVF step.</param>
    /// <param name="beta">Smoothing β.</param>
    /// <returns>Validated options.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range, or an explicit schedule does not fit in training.</exception>
    public static AvfOptions FromEpochs(
        long stepsPerEpoch,
        double totalEpochs,
        int? avfSteps = null,
        double? initialEpochs = null,
        double? intervalEpochs = null,
        int k = DefaultK,
        double beta = DefaultBeta)
    {
        if (stepsPerEpoch < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(stepsPerEpoch), stepsPerEpoch,
                $"stepsPerEpoch must be at least 1, got {stepsPerEpoch}; pass the number of batches per epoch.");
        }

        RequirePositive(totalEpochs, nameof(totalEpochs));
        var initial = initialEpochs ?? DefaultInitialEpochs(totalEpochs);
        var every = intervalEpochs ?? DefaultIntervalEpochs(totalEpochs);
        RequirePositive(initial, nameof(initialEpochs));
        RequirePositive(every, nameof(intervalEpochs));

        var totalSteps = (long)Math.Floor(totalEpochs * stepsPerEpoch);
        var initialStep = Math.Max(1L, (long)Math.Round(initial * stepsPerEpoch, MidpointRounding.AwayFromZero));
        var interval = Math.Max(1L, (long)Math.Round(every * stepsPerEpoch, MidpointRounding.AwayFromZero));
        if (initialStep > totalSteps)
        {
            throw new ArgumentOutOfRangeException(nameof(initialEpochs), initial,
                $"initialEpochs ({initial}, step {initialStep}) starts AVF after training ends ({totalEpochs} epochs = {totalSteps} steps); lower initialEpochs (or leave it null: {DefaultInitialEpochs(totalEpochs):0.###} epochs for this run) or train longer.");
        }

        var fitting = (int)Math.Min(int.MaxValue, ((totalSteps - initialStep) / interval) + 1);
        var count = avfSteps ?? fitting;
        if (count > fitting)
        {
            throw new ArgumentOutOfRangeException(nameof(avfSteps), avfSteps,
                $"avfSteps must be at most {fitting} (the AVF steps from step {initialStep} every {interval} steps that fit in {totalSteps} training steps), got {count}; lower it or pass null.");
        }

        var options = new AvfOptions { InitialStep = initialStep, Interval = interval, AvfSteps = count, K = k, Beta = beta };
        options.Validate();
        return options;
    }

    /// <summary>
    /// The epoch of the first AVF step <see cref="FromEpochs"/> uses for a run of <paramref name="totalEpochs"/>:
    /// <c>min(11, 0.4 · totalEpochs)</c>: the paper's 11 epochs where they leave room for AVF, else 40 % of the run.
    /// </summary>
    /// <param name="totalEpochs">The run's length in epochs.</param>
    /// <returns>The epochs before the first AVF step.</returns>
    public static double DefaultInitialEpochs(double totalEpochs) => Math.Min(PaperInitialEpochs, 0.4 * totalEpochs);

    /// <summary>
    /// The epochs between AVF steps <see cref="FromEpochs"/> uses for a run of <paramref name="totalEpochs"/>:
    /// <c>min(1, 0.1 · totalEpochs)</c>: the paper's one epoch, or 10 % of a run shorter than 10 epochs.
    /// </summary>
    /// <param name="totalEpochs">The run's length in epochs.</param>
    /// <returns>The epochs between AVF steps.</returns>
    public static double DefaultIntervalEpochs(double totalEpochs) => Math.Min(1, 0.1 * totalEpochs);

    private static void RequirePositive(double value, string name)
    {
        if (!(value > 0) || double.IsInfinity(value))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a positive number of epochs, got {value}.");
        }
    }
}

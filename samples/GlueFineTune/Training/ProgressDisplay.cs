using System.Diagnostics;
using System.Globalization;

namespace GlueFineTune.Training;

/// <summary>One progress sample.</summary>
/// <param name="Step">Optimizer steps done (1-based).</param>
/// <param name="TotalSteps">Steps the run will take.</param>
/// <param name="Epoch">The current epoch (1-based).</param>
/// <param name="Epochs">Epochs in the run.</param>
/// <param name="Loss">Smoothed training loss.</param>
/// <param name="LearningRate">The rate used at this step.</param>
/// <param name="Frozen">Vectors AVF holds frozen now.</param>
internal readonly record struct ProgressSample(long Step, long TotalSteps, int Epoch, int Epochs, double Loss, double LearningRate, int Frozen);

/// <summary>
/// The live progress line on stderr: step, epoch, loss, learning rate, examples/s and ETA. On a terminal the
/// line is redrawn in place (at most 10 times a second); when stderr is redirected a line is written every
/// few percent instead, so logs stay readable.
/// </summary>
internal sealed class ProgressDisplay
{
    private readonly TextWriter writer;
    private readonly bool interactive;
    private readonly int batchSize;
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly long firstStep;
    private long lastPrintedStep = -1;
    private TimeSpan lastDraw = TimeSpan.MinValue;
    private int drawnWidth;

    /// <summary>Starts timing.</summary>
    /// <param name="writer">Where to draw (stderr).</param>
    /// <param name="interactive">Redraw one line in place (a terminal) rather than print lines.</param>
    /// <param name="batchSize">Examples per step, for the throughput.</param>
    /// <param name="firstStep">Steps already done when timing starts (after a resume).</param>
    public ProgressDisplay(TextWriter writer, bool interactive, int batchSize, long firstStep)
    {
        this.writer = writer;
        this.interactive = interactive;
        this.batchSize = batchSize;
        this.firstStep = firstStep;
    }

    /// <summary>Draws the line for <paramref name="sample"/> (throttled).</summary>
    /// <param name="sample">The progress sample.</param>
    /// <param name="force">Draw even when throttled (the last step of an epoch).</param>
    public void Report(ProgressSample sample, bool force = false)
    {
        TimeSpan now = clock.Elapsed;
        if (interactive)
        {
            if (!force && now - lastDraw < TimeSpan.FromMilliseconds(100))
            {
                return;
            }

            string line = Format(sample, now);
            writer.Write("\r" + line.PadRight(drawnWidth));
            drawnWidth = line.Length;
            writer.Flush();
        }
        else
        {
            long every = Math.Max(1, sample.TotalSteps / 20);
            if (!force && sample.Step - lastPrintedStep < every && sample.Step != 1)
            {
                return;
            }

            writer.WriteLine(Format(sample, now));
            lastPrintedStep = sample.Step;
        }

        lastDraw = now;
    }

    /// <summary>Ends the in-place line so the next output starts on a fresh line.</summary>
    public void Break()
    {
        if (interactive && drawnWidth > 0)
        {
            writer.WriteLine();
            drawnWidth = 0;
        }
    }

    /// <summary>Formats one sample (public for tests).</summary>
    /// <param name="sample">The sample.</param>
    /// <param name="elapsed">Time since timing started.</param>
    /// <returns>The progress line.</returns>
    public string Format(ProgressSample sample, TimeSpan elapsed)
    {
        long done = Math.Max(0, sample.Step - firstStep);
        double seconds = Math.Max(elapsed.TotalSeconds, 1e-9);
        double examplesPerSecond = done * batchSize / seconds;
        string eta = done == 0 ? "--:--" : Duration(TimeSpan.FromSeconds(seconds / done * (sample.TotalSteps - sample.Step)));
        int width = sample.TotalSteps.ToString(CultureInfo.InvariantCulture).Length;
        string step = sample.Step.ToString(CultureInfo.InvariantCulture).PadLeft(width);
        string frozen = sample.Frozen > 0 ? $" | frozen {sample.Frozen}" : string.Empty;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"epoch {sample.Epoch}/{sample.Epochs} | step {step}/{sample.TotalSteps} | loss {sample.Loss:F4} | lr {sample.LearningRate:G3} | {examplesPerSecond:F1} ex/s | ETA {eta}{frozen}");
    }

    /// <summary><c>m:ss</c> or <c>h:mm:ss</c>.</summary>
    /// <param name="span">A duration.</param>
    /// <returns>The text.</returns>
    public static string Duration(TimeSpan span) => span.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalHours}:{span.Minutes:00}:{span.Seconds:00}")
        : string.Create(CultureInfo.InvariantCulture, $"{span.Minutes}:{span.Seconds:00}");
}

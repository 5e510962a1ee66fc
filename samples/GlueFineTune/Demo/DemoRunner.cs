using System.Diagnostics;
using System.Globalization;
using GlueFineTune.Cli;
using GlueFineTune.Data;
using GlueFineTune.Outputs;
using GlueFineTune.Training;
using VectorFit;

namespace GlueFineTune.Demo;

/// <summary>Settings of the demo that tests shrink.</summary>
/// <param name="PretrainingSteps">Self-supervised pre-training steps for the toy checkpoint.</param>
/// <param name="PretrainingLearningRate">Pre-training learning rate.</param>
/// <param name="Epochs">Fine-tuning epochs.</param>
/// <param name="BatchSize">Fine-tuning batch size.</param>
/// <param name="LearningRate">Fine-tuning learning rate (higher than the paper's 1e-3: a toy model and 200 steps).</param>
/// <param name="TrainExamples">Training examples used (of the built-in 320).</param>
internal sealed record DemoSettings(int PretrainingSteps = 300, double PretrainingLearningRate = 3e-3, int Epochs = 10, int BatchSize = 16, double LearningRate = 2e-2, int TrainExamples = 320)
{
    /// <summary>
    /// The demo's AVF schedule: Table 7's shape (first AVF step about 3/8 into training, then every half epoch,
    /// k frozen each time) scaled to the demo's few hundred steps.
    /// </summary>
    /// <param name="stepsPerEpoch">Batches per epoch.</param>
    /// <param name="epochs">Epochs.</param>
    /// <param name="k">Vectors frozen per AVF step.</param>
    /// <returns>The schedule.</returns>
    public static AvfOptions Schedule(long stepsPerEpoch, int epochs, int k)
    {
        AvfOptions fitting = AvfOptions.FromEpochs(stepsPerEpoch, epochs, avfSteps: null, initialEpochs: epochs * 0.375, intervalEpochs: 0.5, k: k);
        return fitting with { AvfSteps = Math.Min(5, fitting.AvfSteps) };
    }
}

/// <summary>
/// <c>--demo</c>: builds a toy BERT checkpoint (pre-trained with masked-language modelling on the unlabelled demo
/// sentences), then fine-tunes it with VectorFit + AVF on the built-in sentiment task through the same code path
/// as a GLUE run, and prints the dev accuracy against chance.
/// </summary>
internal static class DemoRunner
{
    /// <summary>The demo's default output folder, relative to the working directory (<c>runs/demo</c>, beside the README's <c>runs/rte</c>).</summary>
    public static string DefaultOutput => Path.Combine("runs", "demo");

    /// <summary>Runs the demo.</summary>
    /// <param name="cli">The command line (<c>--output</c>, <c>--variant</c>, <c>--epochs</c>, … are honoured).</param>
    /// <param name="settings">Sizes (tests shrink them).</param>
    /// <param name="log">Messages (stdout).</param>
    /// <param name="progress">The progress line (stderr).</param>
    /// <param name="interactive">Redraw the progress line in place.</param>
    /// <param name="cancellation">Ctrl+C.</param>
    /// <param name="afterStep">Called after every training step (tests interrupt runs with it).</param>
    /// <returns>The training outcome and the output files (null when interrupted).</returns>
    public static (TrainingOutcome Outcome, RunOutputs? Outputs) Run(CliOptions cli, DemoSettings settings, TextWriter log, TextWriter progress, bool interactive, CancellationToken cancellation, Action<long>? afterStep = null)
    {
        ArgumentNullException.ThrowIfNull(cli);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        var clock = Stopwatch.StartNew();
        string output = Path.GetFullPath(cli.Output ?? DefaultOutput);
        string checkpoint = Path.Combine(output, "base-checkpoint");
        int seed = cli.Seed ?? 42;
        log.WriteLine($"output folder: {output}");
        log.WriteLine("VectorFit GLUE demo — nothing to download: a toy BERT, the built-in sentiment sentences, VectorFit + AVF.");

        // Resolve and check every option before doing any work.
        int trainCount = Math.Min(settings.TrainExamples, cli.MaxTrainExamples ?? int.MaxValue);
        IReadOnlyList<GlueExample> train = DemoSentimentData.Train.Take(trainCount).ToList();
        IReadOnlyList<GlueExample> dev = DemoSentimentData.Dev;
        int epochs = cli.Epochs ?? settings.Epochs;
        int batch = cli.BatchSize ?? settings.BatchSize;
        long stepsPerEpoch = (train.Count + batch - 1) / batch;
        AvfOptions schedule;
        try
        {
            schedule = DemoSettings.Schedule(stepsPerEpoch, epochs, k: 3);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"the demo's AVF schedule does not fit {epochs} epochs of {stepsPerEpoch} steps ({e.Message}); use more --epochs.", e);
        }

        var preset = new AvfPreset("DEMO", "toy BERT", 0, epochs, batch, settings.LearningRate, schedule);
        TrainingOptions options = OptionResolver.Build(
            cli with { Epochs = epochs, BatchSize = batch },
            GlueTask.Demo,
            checkpoint,
            output,
            preset,
            "the demo preset (Table 7's schedule shape scaled to the toy run)");

        if (!cli.Resume)
        {
            ClearPreviousDemo(output);
            log.WriteLine($"[1/3] building a toy BERT checkpoint in {checkpoint}");
            log.WriteLine($"      pre-training all its weights for {settings.PretrainingSteps} steps, as BERT pairs a token-level and a sentence-level");
            log.WriteLine("      objective: masked-language modelling on all training sentences, and a narrower source task on the pooled [CLS]");
            PretrainingResult pre = DemoCheckpoint.Create(checkpoint, settings.PretrainingSteps, settings.PretrainingLearningRate, seed, log);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      pre-training loss {pre.FirstLoss:F2} -> {pre.LastLoss:F2} in {pre.Elapsed.TotalSeconds:F1} s; wrote config.json, vocab.txt, model.safetensors (no classifier)"));
        }
        else
        {
            log.WriteLine($"[1/3] --resume: reusing the toy checkpoint in {checkpoint}");
        }

        double chance = dev.GroupBy(e => e.Label).Max(g => g.Count()) / (double)dev.Count;
        log.WriteLine($"[2/3] fine-tuning with {options.MethodDisplay} on the demo sentiment task ({train.Count} train / {dev.Count} dev, chance {chance:P0})");
        log.WriteLine($"      {options.Describe()}");

        using var nested = new IndentedWriter(log, "      ");
        using TrainingSession session = TrainingSession.Create(options, train, dev, nested);
        double before = DevEvaluation.Run(session.Model, session.Dev, options.Task, options.EvalBatchSize).MainValue;
        if (!options.Resume)
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      dev accuracy before fine-tuning, with the new random head: {before:P1}"));
        }

        var trainer = new GlueTrainer(session, nested, progress, interactive) { AfterStep = afterStep };
        TrainingOutcome outcome = trainer.Run(cancellation);
        if (!outcome.Completed)
        {
            return (outcome, null);
        }

        RunOutputs outputs = RunOutputs.Write(session);
        EpochMetrics best = outcome.Metrics.Best!;
        double final = outcome.LastEvaluation?.MainValue ?? outcome.Metrics.Epochs[^1].Dev[outcome.Metrics.MainMetric];
        log.WriteLine("[3/3] results");
        log.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"      dev accuracy {final:P1} after {outcome.Step} steps (best {best.Dev[outcome.Metrics.MainMetric]:P1} at epoch {best.Epoch}); before fine-tuning {before:P1}; chance {chance:P0}"));
        log.WriteLine($"      trained {session.Surgery.AdapterParameterCount:N0} VectorFit values (σ and b) + {session.Surgery.ModulesToSaveParameterCount:N0} head values; AVF froze {session.Avf.FrozenSet.Count} vectors at the end: {string.Join(", ", session.Avf.FrozenSet.Select(v => v.Name))}");
        foreach (string line in outputs.Describe())
        {
            log.WriteLine(line);
        }

        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"demo finished in {clock.Elapsed.TotalSeconds:F1} s"));
        return (outcome, outputs);
    }

    /// <summary>Removes what an earlier demo wrote; refuses a folder holding anything else.</summary>
    private static void ClearPreviousDemo(string output)
    {
        if (!Directory.Exists(output))
        {
            return;
        }

        string[] known =
        [
            "base-checkpoint", "checkpoint", "checkpoint.new", "checkpoint.old", RunOutputs.AdapterFileName, RunOutputs.FineTunedFileName, MetricsLog.FileName,
            "avf_strength.csv", "avf_vectors.csv", "avf_strength.svg",
        ];
        var foreign = Directory.EnumerateFileSystemEntries(output).Select(Path.GetFileName).Where(n => !known.Contains(n)).ToList();
        if (foreign.Count > 0)
        {
            throw new UsageException($"--output {output} holds files the demo did not write ({string.Join(", ", foreign.Take(5))}); choose a new or empty folder.");
        }

        foreach (string name in known)
        {
            string path = Path.Combine(output, name);
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else if (File.Exists(path))
            {
                File.Delete(path);
            }
        }
    }
}

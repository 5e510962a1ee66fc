using GlueFineTune.Data;
using GlueFineTune.Training;
using VectorFit;

namespace GlueFineTune.Cli;

/// <summary>Turns a GLUE command line into <see cref="TrainingOptions"/>: the task's Table 7 preset, then the user's overrides.</summary>
internal static class OptionResolver
{
    /// <summary>Resolves and checks a GLUE run's options.</summary>
    /// <param name="cli">The parsed command line (not <c>--demo</c>).</param>
    /// <returns>The options.</returns>
    /// <exception cref="UsageException">A required option is missing or a value is invalid.</exception>
    public static TrainingOptions Resolve(CliOptions cli)
    {
        ArgumentNullException.ThrowIfNull(cli);
        string taskName = cli.Task ?? throw new UsageException("--task is required (MNLI, SST-2, CoLA, QQP, QNLI, RTE, MRPC, STS-B), or run --demo.");
        if (!GlueTask.TryParse(taskName, out GlueTask? task) || task == GlueTask.Demo)
        {
            throw new UsageException($"--task \"{taskName}\" is not a GLUE task; use one of {string.Join(", ", GlueTask.All.Select(t => t.Name))} (or --demo for the built-in task).");
        }

        string data = RequireDirectory(cli.Data, "--data", "the GLUE folder holding MNLI/, SST-2/, …");
        string model = RequireDirectory(cli.Model, "--model", "a Hugging Face checkpoint folder (config.json, model.safetensors, vocab.txt or spm.model)");
        string output = cli.Output ?? throw new UsageException("--output is required: the folder for the adapter, metrics and checkpoint.");
        string trainFile = task.FilePath(data, GlueSplit.Train);
        if (!File.Exists(trainFile))
        {
            throw new UsageException($"--data {data} has no {task.FolderName}/{task.TrainFileName} ({trainFile}); point --data at the folder that holds the GLUE task folders.");
        }

        AvfPreset preset = AvfPresets.Get(task.Name);
        return Build(cli, task, model, output, preset, $"Table {preset.Table}, {preset.Task}") with { DataDirectory = data };
    }

    /// <summary>Applies the command line's overrides to a preset (also used by the demo with its own preset).</summary>
    /// <param name="cli">The command line.</param>
    /// <param name="task">The task.</param>
    /// <param name="model">The checkpoint folder.</param>
    /// <param name="output">The output folder.</param>
    /// <param name="preset">Defaults for epochs, batch size, learning rate and the AVF schedule.</param>
    /// <param name="presetSource">Where the defaults come from, for the log.</param>
    /// <returns>Validated options.</returns>
    /// <exception cref="UsageException">A value is invalid.</exception>
    public static TrainingOptions Build(CliOptions cli, GlueTask task, string model, string output, AvfPreset preset, string presetSource)
    {
        ArgumentNullException.ThrowIfNull(cli);
        ArgumentNullException.ThrowIfNull(preset);
        VectorFitVariant variant = VectorFitVariant.VectorFit;
        if (cli.Variant is { } name && !VariantNames.TryParse(name, out variant))
        {
            throw new UsageException($"--variant \"{name}\" is unknown; use one of {string.Join(", ", VariantNames.Names)}.");
        }

        LearningRateSchedule schedule = LearningRateSchedule.Linear;
        if (cli.LearningRateSchedule is { } s && !Enum.TryParse(s, ignoreCase: true, out schedule))
        {
            throw new UsageException($"--lr-schedule \"{s}\" is unknown; use linear or constant.");
        }

        AvfOptions avf = preset.AvfOptions with
        {
            InitialStep = cli.InitialStep ?? preset.AvfOptions.InitialStep,
            Interval = cli.Interval ?? preset.AvfOptions.Interval,
            AvfSteps = cli.AvfSteps ?? preset.AvfOptions.AvfSteps,
            K = cli.K ?? preset.AvfOptions.K,
        };
        var options = new TrainingOptions
        {
            Task = task,
            ModelDirectory = model,
            OutputDirectory = output,
            Variant = variant,
            Epochs = cli.Epochs ?? preset.Epochs,
            BatchSize = cli.BatchSize ?? preset.BatchSize,
            EvalBatchSize = cli.EvalBatchSize ?? 64,
            LearningRate = cli.LearningRate ?? preset.LearningRate,
            Schedule = schedule,
            MaxLength = cli.MaxLength ?? 128,
            Seed = cli.Seed ?? 42,
            Avf = avf,
            PresetSource = presetSource,
            MaxSteps = cli.MaxSteps,
            Resume = cli.Resume,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message, e);
        }

        return options;
    }

    private static string RequireDirectory(string? value, string option, string what)
    {
        if (value is null)
        {
            throw new UsageException($"{option} is required: {what}.");
        }

        if (!Directory.Exists(value))
        {
            throw new UsageException($"{option} {value} does not exist; pass {what}.");
        }

        return value;
    }
}

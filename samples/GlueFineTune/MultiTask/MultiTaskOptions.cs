using GlueFineTune.Cli;
using GlueFineTune.Data;
using GlueFineTune.Training;
using VectorFit;

namespace GlueFineTune.MultiTask;

/// <summary>One task of a multi-task run: its name (the adapter's) and its data, read and checked.</summary>
/// <param name="Name">The task's name (<c>--train NAME=FILE</c>).</param>
/// <param name="Data">The task's training and dev examples and labels.</param>
internal sealed record TaskData(string Name, CustomData Data);

/// <summary>
/// A multi-task run: two or more <c>--train NAME=FILE</c> with a <c>--dev NAME=FILE</c> each, one adapter (σ, b, head) per task
/// on one base model, trained in mixed batches; the shared settings (epochs, batch, lr, …) as for a single task.
/// </summary>
/// <param name="Tasks">The tasks, in command-line order.</param>
/// <param name="Settings">
/// The shared settings (its <see cref="TrainingOptions.Task"/> is the first task's). Its variant and AVF schedule apply to each
/// adapter on its own steps (the batches that hold its task's rows): VectorFit + AVF by default, as for a single task.
/// </param>
internal sealed record MultiTaskOptions(IReadOnlyList<TaskData> Tasks, TrainingOptions Settings)
{
    /// <summary>Whether the command line asks for multi-task training: <c>--train</c> more than once, or as <c>NAME=FILE</c>.</summary>
    /// <param name="cli">The command line.</param>
    /// <returns>Whether it is a multi-task run.</returns>
    public static bool Requested(CliOptions cli)
    {
        ArgumentNullException.ThrowIfNull(cli);
        return cli.Verb is null && (cli.TrainSets.Count > 1 || cli.DevSets.Count > 1 || cli.TrainSets.Any(NamedFile.LooksNamed));
    }

    /// <summary>Reads and checks a multi-task command line and every task's files.</summary>
    /// <param name="cli">The command line (<see cref="Requested"/> is true).</param>
    /// <returns>The options.</returns>
    /// <exception cref="UsageException">The command line is wrong (the message says how to fix it).</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or the tasks' heads differ in size.</exception>
    public static MultiTaskOptions Resolve(CliOptions cli)
    {
        ArgumentNullException.ThrowIfNull(cli);
        const string Example = "--train spam=spam/train.jsonl --dev spam=spam/dev.jsonl --train names=names/train.jsonl --dev names=names/dev.jsonl";
        if (cli.Task is not null || cli.Data is not null || cli.Demo)
        {
            throw new UsageException("multi-task training (--train NAME=FILE per task) reads your own files; leave out --task, --data and --demo.");
        }

        if (cli.TrainSets.Any(v => !NamedFile.LooksNamed(v)) || cli.DevSets.Any(v => !NamedFile.LooksNamed(v)))
        {
            string plain = cli.TrainSets.Concat(cli.DevSets).First(v => !NamedFile.LooksNamed(v));
            throw new UsageException($"\"{plain}\" is not NAME=FILE: with more than one --train (multi-task training) name each set, e.g. {Example}; for one task pass --train FILE --dev FILE once.");
        }

        IReadOnlyList<NamedFile> train = NamedFile.ParseAll(cli.TrainSets, "--train", "spam=spam/train.jsonl");
        IReadOnlyList<NamedFile> dev = NamedFile.ParseAll(cli.DevSets, "--dev", "spam=spam/dev.jsonl");
        if (train.Count < 2)
        {
            throw new UsageException($"multi-task training needs two or more tasks (one --train NAME=FILE each, e.g. {Example}); for one task pass --train FILE --dev FILE.");
        }

        var missing = train.Select(t => t.Name).Except(dev.Select(d => d.Name)).ToList();
        var extra = dev.Select(d => d.Name).Except(train.Select(t => t.Name)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new UsageException(missing.Count > 0
                ? $"task {string.Join(", ", missing)} has a --train but no --dev; give each task --dev NAME=FILE (its dev set is evaluated per task)."
                : $"--dev {string.Join(", ", extra)} names no --train task ({string.Join(", ", train.Select(t => t.Name))}); use the same names in --train and --dev.");
        }

        if (cli.Method is { } method && !string.Equals(method, "vectorfit", StringComparison.OrdinalIgnoreCase))
        {
            throw new UsageException($"multi-task training trains VectorFit adapters (σ, b and head per task) on one base; --method {method} does not apply. Train that method one task at a time.");
        }

        if (cli.FactorDType is not null)
        {
            throw new UsageException("multi-task training has no --factor-dtype yet; train one task at a time to store U and V narrower.");
        }

        if (cli.Resume || cli.Distributed)
        {
            throw new UsageException($"multi-task training has no {(cli.Resume ? "--resume" : "--distributed")} yet; run it in one process from the start.");
        }

        if (cli.Regression)
        {
            throw new UsageException("multi-task training classifies: every task's head is the same size (the same number of classes); --regression is for a single task.");
        }

        var columns = new CustomColumns(cli.TextColumn, cli.TextPairColumn, cli.LabelColumn);
        var tasks = new List<TaskData>();
        foreach (NamedFile t in train)
        {
            string devPath = dev.First(d => d.Name == t.Name).Path;
            CustomData data;
            try
            {
                data = CustomDataReader.Load(t.Path, devPath, columns, regression: false);
            }
            catch (GlueFormatException e)
            {
                throw new InvalidDataException(e.Message, e);
            }

            if (cli.MaxTrainExamples is { } n)
            {
                data = data with { Train = data.Train.Take(n).ToList() };
            }

            tasks.Add(new TaskData(t.Name, data with { Task = GlueTask.Custom(t.Name, data.Task.LabelNames, data.Task.IsPair, regression: false) }));
        }

        if (tasks.Select(t => t.Data.Task.NumLabels).Distinct().Count() > 1)
        {
            throw new InvalidDataException(
                $"the tasks have heads of different sizes ({string.Join(", ", tasks.Select(t => $"{t.Name}: {t.Data.Task.NumLabels} classes"))}); the adapters of one base share the head's shape. " +
                "Train tasks with the same number of classes together, or each task alone.");
        }

        if (tasks.Select(t => t.Data.Task.IsPair).Distinct().Count() > 1)
        {
            throw new InvalidDataException($"some tasks are text pairs and some single texts ({string.Join(", ", tasks.Select(t => $"{t.Name}: {(t.Data.Task.IsPair ? "pair" : "single")}"))}); train them separately.");
        }

        TaskData first = tasks[0];
        int epochs = cli.Epochs ?? 3;
        // The same defaults as a single task on your own data (OptionResolver.ForCustomData): VectorFit + AVF, scheduled in epochs
        // by AvfOptions.FromEpochs' rule; each adapter runs that schedule over its own steps (MultiTaskTrainer).
        TrainingOptions settings = OptionResolver.Build(cli, first.Data.Task, RequireModel(cli.Model), cli.Output ?? throw new UsageException("--output is required: the folder for each task's adapter and metrics (OUTPUT/NAME/)."),
            OptionResolver.CustomPreset(epochs), "the custom-data defaults", (AvfOptions.DefaultInitialEpochs(epochs), AvfOptions.DefaultIntervalEpochs(epochs)));
        return new MultiTaskOptions(tasks, settings);
    }

    private static string RequireModel(string? model) =>
        model is null ? throw new UsageException("--model is required: a Hugging Face checkpoint folder (config.json, model.safetensors, vocab.txt or spm.model).")
        : Directory.Exists(model) ? model
        : throw new UsageException($"--model {model} does not exist; pass a checkpoint folder (config.json, model.safetensors, vocab.txt or spm.model).");
}

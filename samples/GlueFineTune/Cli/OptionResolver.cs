using GlueFineTune.Data;
using VectorFit.Transformers.Models;
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
        if (cli.Train is not null || cli.Dev is not null)
        {
            return ResolveCustom(cli);
        }

        if (cli.TextColumn is not null || cli.TextPairColumn is not null || cli.LabelColumn is not null || cli.Regression)
        {
            throw new UsageException("--text-column, --text-pair-column, --label-column and --regression describe your own files: use them with --train FILE --dev FILE.");
        }

        string taskName = cli.Task ?? throw new UsageException("--task is required (MNLI, SST-2, CoLA, QQP, QNLI, RTE, MRPC, STS-B), or --train FILE --dev FILE for your own data, or run --demo.");
        if (!GlueTask.TryParse(taskName, out GlueTask? task) || task == GlueTask.Demo)
        {
            throw new UsageException($"--task \"{taskName}\" is not a GLUE task; use one of {string.Join(", ", GlueTask.All.Select(t => t.Name))} (or --demo for the built-in task).");
        }

        string data = RequireDirectory(cli.Data, "--data", "the GLUE folder holding MNLI/, SST-2/, …");
        string model = RequireModel(cli.Model);
        string output = cli.Output ?? throw new UsageException("--output is required: the folder for the adapter, metrics and checkpoint.");
        string trainFile = task.FilePath(data, GlueSplit.Train);
        if (!File.Exists(trainFile))
        {
            throw new UsageException($"--data {data} has no {task.FolderName}/{task.TrainFileName} ({trainFile}); point --data at the folder that holds the GLUE task folders.");
        }

        AvfPreset preset = AvfPresets.Get(task.Name);
        return Build(cli, task, model, output, preset, $"Table {preset.Table}, {preset.Task}") with { DataDirectory = data };
    }

    /// <summary>
    /// The default learning rate of <c>--method full</c>: 2e-5, the usual rate for fine-tuning every weight of a
    /// BERT-sized encoder (the presets' 1e-3 is VectorFit's, for σ and b, and diverges on full weights).
    /// </summary>
    public const double FullFineTuningLearningRate = 2e-5;

    /// <summary>The defaults of a run on the user's own data: batch 32, lr 1e-3 (Table 7), 3 epochs, AVF by the library's rule (AvfOptions.DefaultInitialEpochs, DefaultIntervalEpochs: from 40% of a short run every 10%), n_f 5.</summary>
    /// <param name="epochs">The run's epochs.</param>
    /// <returns>The preset (its AVF steps are placeholders: the schedule is set in epochs).</returns>
    public static AvfPreset CustomPreset(int epochs) =>
        new("custom", "any", 0, epochs, 32, 1e-3, new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 5 });

    private static TrainingOptions ResolveCustom(CliOptions cli)
    {
        if (cli.Task is not null || cli.Data is not null)
        {
            throw new UsageException("--train/--dev read your own files; leave out --task and --data (they are for GLUE).");
        }

        string train = RequireFile(cli.Train, "--train");
        string dev = RequireFile(cli.Dev, "--dev");
        string model = RequireModel(cli.Model);
        string output = cli.Output ?? throw new UsageException("--output is required: the folder for the adapter, metrics and checkpoint.");
        CustomData data;
        try
        {
            data = CustomDataReader.Load(train, dev, new CustomColumns(cli.TextColumn, cli.TextPairColumn, cli.LabelColumn), cli.Regression);
        }
        catch (GlueFormatException e)
        {
            throw new InvalidDataException(e.Message, e); // "FILE, line N: …", reported as an error like any bad file
        }
        int epochs = cli.Epochs ?? 3;
        // AVF as AvfOptions.FromEpochs schedules it by default: from min(11 epochs, 40 % of training), every min(1 epoch, 10 %).
        return Build(cli, data.Task, model, output, CustomPreset(epochs), "the custom-data defaults", (AvfOptions.DefaultInitialEpochs(epochs), AvfOptions.DefaultIntervalEpochs(epochs))) with { CustomData = data };
    }

    /// <summary>Applies the command line's overrides to a preset (also used by the demo with its own preset).</summary>
    /// <param name="cli">The command line.</param>
    /// <param name="task">The task.</param>
    /// <param name="model">The checkpoint folder.</param>
    /// <param name="output">The output folder.</param>
    /// <param name="preset">Defaults for epochs, batch size, learning rate and the AVF schedule.</param>
    /// <param name="presetSource">Where the defaults come from, for the log.</param>
    /// <param name="avfEpochs">The default AVF schedule in epochs (start, interval) instead of the preset's steps, or <c>null</c>.</param>
    /// <returns>Validated options.</returns>
    /// <exception cref="UsageException">A value is invalid.</exception>
    public static TrainingOptions Build(CliOptions cli, GlueTask task, string model, string output, AvfPreset preset, string presetSource, (double Start, double Every)? avfEpochs = null)
    {
        ArgumentNullException.ThrowIfNull(cli);
        ArgumentNullException.ThrowIfNull(preset);
        bool avfGiven = cli.InitialStep is not null || cli.Interval is not null || cli.AvfSteps is not null || cli.K is not null || cli.AvfStartEpoch is not null || cli.AvfEveryEpochs is not null;
        if (avfEpochs is { } byEpochs && cli.InitialStep is null && cli.Interval is null)
        {
            cli = cli with { AvfStartEpoch = cli.AvfStartEpoch ?? byEpochs.Start, AvfEveryEpochs = cli.AvfEveryEpochs ?? byEpochs.Every };
        }

        VectorFitVariant variant = VectorFitVariant.VectorFit;
        if (cli.Variant is { } name && !VariantNames.TryParse(name, out variant))
        {
            throw new UsageException($"--variant \"{name}\" is unknown; use one of {string.Join(", ", VariantNames.Names)}.");
        }

        FineTuningMethod method = FineTuningMethod.VectorFit;
        if (cli.Method is { } m && !MethodNames.TryParse(m, out method))
        {
            throw new UsageException($"--method \"{m}\" is unknown; use {string.Join(", ", MethodNames.Names)}.");
        }

        SvftPattern pattern = SvftPattern.Banded(2);
        if (cli.SvftPattern is { } sp)
        {
            if (method != FineTuningMethod.Svft)
            {
                throw new UsageException("--svft-pattern applies to --method svft only.");
            }

            if (!MethodNames.TryParsePattern(sp, cli.Seed ?? 42, out pattern))
            {
                throw new UsageException($"--svft-pattern \"{sp}\" is unknown; use plain, banded:D, random:D or topk:D (D off-diagonals, e.g. banded:2).");
            }
        }

        TorchSharp.torch.ScalarType? factorDType = null;
        if (cli.FactorDType is { } fd)
        {
            if (!FactorDTypeNames.TryParse(fd, out factorDType))
            {
                throw new UsageException($"--factor-dtype \"{fd}\" is unknown; use {string.Join(", ", FactorDTypeNames.Names)}.");
            }

            if (method != FineTuningMethod.VectorFit && factorDType is not null)
            {
                throw new UsageException($"--factor-dtype {fd} applies to --method vectorfit only (the library stores SVFT's factors in the weights' dtype).");
            }
        }

        if (method != FineTuningMethod.VectorFit && cli.Variant is { } v && !string.Equals(v, "vectorfit", StringComparison.OrdinalIgnoreCase))
        {
            throw new UsageException($"--variant {v} is one of VectorFit's ablations; it does not apply to --method {MethodNames.Name(method)}.");
        }

        // Without --pooling, a folder that records its own (sentence-transformers' 1_Pooling/config.json, which import-onnx writes) uses it.
        Pooling? folderPooling = cli.Pooling is null ? SentenceTransformersPooling.Read(model) : null;
        Pooling pooling = folderPooling ?? Pooling.Pooler;
        if (cli.Pooling is { } p && !PoolingNames.TryParse(p, out pooling))
        {
            throw new UsageException($"--pooling \"{p}\" is unknown; use {string.Join(", ", PoolingNames.Names)}.");
        }

        LearningRateSchedule schedule = LearningRateSchedule.Linear;
        if (cli.LearningRateSchedule is { } s && !Enum.TryParse(s, ignoreCase: true, out schedule))
        {
            throw new UsageException($"--lr-schedule \"{s}\" is unknown; use linear or constant.");
        }

        if (cli.AvfStartEpoch is not null && (cli.InitialStep is not null || cli.Interval is not null))
        {
            throw new UsageException("give the AVF schedule in steps (--t-i, --t-f) or in epochs (--avf-start-epoch, --avf-every-epochs), not both.");
        }

        AvfOptions avf = preset.AvfOptions with
        {
            InitialStep = cli.InitialStep ?? preset.AvfOptions.InitialStep,
            Interval = cli.Interval ?? preset.AvfOptions.Interval,
            AvfSteps = cli.AvfSteps ?? preset.AvfOptions.AvfSteps,
            K = cli.K ?? preset.AvfOptions.K,
        };
        // The log names the settings the defaults gave, not the defaults themselves (issue 19: they may all be overridden).
        var fromPreset = new List<string>();
        fromPreset.AddRange(cli.Epochs is null ? ["epochs"] : []);
        fromPreset.AddRange(cli.BatchSize is null ? ["batch"] : []);
        fromPreset.AddRange(cli.LearningRate is null && method != FineTuningMethod.Full ? ["lr"] : []);
        fromPreset.AddRange(!avfGiven && method == FineTuningMethod.VectorFit && variant.UsesAvf() ? ["AVF schedule"] : []);
        string lrNote = (cli.LearningRate is null && method == FineTuningMethod.Full ? "; lr: --method full's default" : string.Empty)
            + (folderPooling is not null ? $"; pooling: the model folder's {SentenceTransformersPooling.RelativePath}" : string.Empty);
        var options = new TrainingOptions
        {
            Task = task,
            ModelDirectory = model,
            OutputDirectory = output,
            Variant = variant,
            Method = method,
            SvftPattern = pattern,
            FactorDType = factorDType,
            Pooling = pooling,
            Epochs = cli.Epochs ?? preset.Epochs,
            BatchSize = cli.BatchSize ?? preset.BatchSize,
            EvalBatchSize = cli.EvalBatchSize ?? 64,
            LearningRate = cli.LearningRate ?? (method == FineTuningMethod.Full ? FullFineTuningLearningRate : preset.LearningRate),
            Schedule = schedule,
            MaxLength = cli.MaxLength ?? 128,
            Seed = cli.Seed ?? 42,
            Avf = avf,
            PresetSource = (fromPreset.Count == 0 ? "every value from the command line" : $"{string.Join(", ", fromPreset)} from {presetSource}") + lrNote,
            MaxSteps = cli.MaxSteps,
            Resume = cli.Resume,
            AvfStartEpoch = cli.AvfStartEpoch,
            AvfEveryEpochs = cli.AvfEveryEpochs,
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

    private static string RequireFile(string? value, string option)
    {
        if (value is null)
        {
            throw new UsageException("your own data needs both --train FILE and --dev FILE (TSV, CSV or JSONL with a text and a label column).");
        }

        return File.Exists(value) ? value : throw new UsageException($"{option} {value} does not exist; pass a TSV, CSV or JSONL file of labelled examples.");
    }

    /// <summary>Checks the checkpoint folder before any data is read: it exists and holds config.json, the weights and a tokenizer.</summary>
    private static string RequireModel(string? value)
    {
        if (value is not null && File.Exists(value))
        {
            throw new UsageException($"--model {value} is a file; pass the folder that holds it ({Path.GetDirectoryName(Path.GetFullPath(value))}): a Hugging Face checkpoint folder with config.json, model.safetensors and vocab.txt or spm.model.");
        }

        string model = RequireDirectory(value, "--model", "a Hugging Face checkpoint folder (config.json, model.safetensors, vocab.txt or spm.model)");
        var missing = new List<string>();
        if (!File.Exists(Path.Combine(model, TransformerConfig.FileName)))
        {
            missing.Add(TransformerConfig.FileName);
        }

        if (!File.Exists(Path.Combine(model, CheckpointLoader.WeightsFileName)))
        {
            missing.Add(CheckpointLoader.WeightsFileName + (File.Exists(Path.Combine(model, "pytorch_model.bin")) ? " (it has pytorch_model.bin: this sample reads safetensors)" : string.Empty));
        }

        if (!File.Exists(Path.Combine(model, "vocab.txt")) && !File.Exists(Path.Combine(model, "spm.model")))
        {
            missing.Add("vocab.txt or spm.model");
        }

        return missing.Count == 0
            ? model
            : throw new UsageException($"--model {model} lacks {string.Join(", ", missing)}; pass a Hugging Face checkpoint folder (or convert an ONNX export with import-onnx).");
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

using GlueFineTune.Data;
using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tokenization;
using TorchSharp.Modules;
using VectorFit;
using VectorFit.Distributed;
using static TorchSharp.torch;

namespace GlueFineTune.Training;

/// <summary>
/// Everything a run trains with, built from a checkpoint folder: the model (loaded by key, then adapted by
/// VectorFit's surgery), the tokenised splits, AdamW over the trained tensors and the AVF scheduler.
/// </summary>
internal sealed class TrainingSession : IDisposable
{
    private TrainingSession(
        TrainingOptions options,
        SequenceClassifier model,
        LoadReport load,
        SurgeryReport surgery,
        EncodedDataset train,
        EncodedDataset dev,
        VectorFit.Optim.AdamW optimizer,
        AvfScheduler avf,
        long stepsPerEpoch,
        long totalSteps,
        DataParallel? parallel)
    {
        Parallel = parallel;
        StepsPerEpoch = stepsPerEpoch;
        TotalSteps = totalSteps;
        Options = options;
        Model = model;
        Load = load;
        Surgery = surgery;
        Train = train;
        Dev = dev;
        Optimizer = optimizer;
        Avf = avf;
    }

    /// <summary>The run's options.</summary>
    public TrainingOptions Options { get; }

    /// <summary>The adapted model.</summary>
    public SequenceClassifier Model { get; }

    /// <summary>What loading the checkpoint did.</summary>
    public LoadReport Load { get; }

    /// <summary>What the surgery did.</summary>
    public SurgeryReport Surgery { get; }

    /// <summary>The training split.</summary>
    public EncodedDataset Train { get; }

    /// <summary>The dev split.</summary>
    public EncodedDataset Dev { get; }

    /// <summary>AdamW over the trained vectors and the head (VectorFit's, which holds its Scalars).</summary>
    public VectorFit.Optim.AdamW Optimizer { get; }

    /// <summary>
    /// The AVF scheduler: the task's schedule for the VectorFit variant; for the other variants a scheduler
    /// with no AVF steps that only tracks training strength (for the heat map).
    /// </summary>
    public AvfScheduler Avf { get; }

    /// <summary>Under <c>--distributed</c>: the gradient averaging over the MPI ranks; <c>null</c> in one process.</summary>
    public DataParallel? Parallel { get; }

    /// <summary>Optimizer steps per epoch.</summary>
    public long StepsPerEpoch { get; }

    /// <summary>Steps in the whole run (<see cref="TrainingOptions.MaxSteps"/> caps it).</summary>
    public long TotalSteps { get; }

    /// <summary>Loads, adapts and prepares everything; writes what it does to <paramref name="log"/>.</summary>
    /// <param name="options">The run's options (validated here).</param>
    /// <param name="trainExamples">The training split.</param>
    /// <param name="devExamples">The dev split.</param>
    /// <param name="log">Where to describe the steps.</param>
    /// <param name="world">Under <c>--distributed</c>: the MPI world to average gradients over.</param>
    /// <returns>The session.</returns>
    public static TrainingSession Create(TrainingOptions options, IReadOnlyList<GlueExample> trainExamples, IReadOnlyList<GlueExample> devExamples, TextWriter log, MpiWorld? world = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        options.Validate();
        manual_seed(options.Seed);

        ITokenizer tokenizer = TokenizerFactory.FromPretrained(options.ModelDirectory);
        var (model, load) = CheckpointLoader.Load(options.ModelDirectory, options.Task.NumLabels);
        try
        {
            foreach (string line in load.Describe())
            {
                log.WriteLine(line);
            }

            var train = new EncodedDataset(tokenizer, trainExamples, options.Task, options.MaxLength, model.Config.VocabSize);
            var dev = new EncodedDataset(tokenizer, devExamples, options.Task, options.MaxLength, model.Config.VocabSize);
            log.WriteLine($"data: {train.Count} train / {dev.Count} dev examples, max length {options.MaxLength}" +
                (train.TruncatedCount + dev.TruncatedCount > 0 ? $" ({train.TruncatedCount + dev.TruncatedCount} truncated)" : string.Empty));

            model.Pooling = options.Pooling;
            var head = model.TrainedHeadPrefixes
                .Concat(load.InitialisedPrefixes.Where(p => options.Pooling == Pooling.Pooler || p != model.PoolerPrefix))
                .Distinct(StringComparer.Ordinal).Select(p => p.TrimEnd('.')).ToList();
            log.WriteLine(DescribePooling(model, load, head));
            SurgeryReport surgery = ModelSurgery.Apply(model, SurgeryConfig(model, options, head));
            log.WriteLine(options.Method == FineTuningMethod.Full
                ? $"full: every weight trains ({surgery.ModulesToSaveParameterCount:N0}): the encoder ({model.BaseModelPrefix}) and the head ({string.Join(", ", head.Where(h => !h.StartsWith(model.BaseModelPrefix + ".", StringComparison.Ordinal)))})"
                : $"{MethodNames.Name(options.Method)}: {surgery.Layers.Count} adapted layers, {options.MethodDisplay}; "
                    + $"adapter params {surgery.AdapterParameterCount:N0}, head ({string.Join(", ", surgery.ModulesToSave)}) {surgery.ModulesToSaveParameterCount:N0}");
            log.WriteLine(surgery.ToString());

            // TorchSharp's AdamW lets the GC free its Scalars mid-call (see VectorFit.Optim.AdamW); this one is the same update, held.
            var optimizer = new VectorFit.Optim.AdamW(surgery.GetTrainableParameters(), lr: options.LearningRate, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0);
            long stepsPerEpoch = (train.Count + options.BatchSize - 1) / options.BatchSize;
            long totalSteps = Math.Min(stepsPerEpoch * options.Epochs, options.MaxSteps ?? long.MaxValue);
            AvfOptions schedule = options.UsesAvf ? options.AvfSchedule(stepsPerEpoch) : AvfOptions.None;
            AvfScheduler avf = AvfScheduler.FromModel(model, schedule, totalSteps);
            model.train();
            DataParallel? parallel = null;
            if (world is not null)
            {
                // Every rank built the same model from the same seed; rank 0's values are broadcast anyway, so all start identical.
                parallel = new DataParallel(world, model.named_parameters().Where(p => p.parameter.requires_grad));
                parallel.BroadcastParameters();
                log.WriteLine($"distributed: {world.Size} ranks ({world.Library.Split(',')[0]}), each takes its part of every batch of {options.BatchSize}; {parallel.ValueCount:N0} gradient values averaged per step");
            }

            return new TrainingSession(options, model, load, surgery, train, dev, optimizer, avf, stepsPerEpoch, totalSteps, parallel);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The surgery for a BERT or DeBERTa classifier: the architecture's q/k/v/o/f1/f2 preset, the head trained fully.</summary>
    /// <param name="model">The model.</param>
    /// <param name="variant">The ablation variant.</param>
    /// <param name="headModules">Module names of the task head (e.g. <c>classifier</c>).</param>
    /// <returns>The surgery config.</returns>
    public static VectorFitConfig SurgeryConfig(SequenceClassifier model, VectorFitVariant variant, IReadOnlyList<string> headModules) => new()
    {
        Preset = model.Config.IsDeberta ? TargetPreset.DebertaV2 : TargetPreset.Bert,
        Variant = variant,
        ModulesToSave = headModules,
    };

    /// <summary>The log line saying how the model pools and what trains with the head.</summary>
    /// <param name="model">The model (its <see cref="SequenceClassifier.Pooling"/> set).</param>
    /// <param name="load">What loading the checkpoint did.</param>
    /// <param name="head">The modules trained fully.</param>
    /// <returns>The line.</returns>
    internal static string DescribePooling(SequenceClassifier model, LoadReport load, IReadOnlyList<string> head)
    {
        bool pretrainedPooler = !load.InitialisedPrefixes.Contains(model.PoolerPrefix);
        string pooler = model.PoolerPrefix.TrimEnd('.');
        string note = model.Pooling == Pooling.Pooler
            ? (pretrainedPooler ? $"; {pooler} starts from the checkpoint and trains" : $"; {pooler} is new (not in the checkpoint) and trains")
            : $"; {pooler} is not used";
        return $"pooling: {PoolingNames.Describe(model.Pooling)}; trained fully with the head: {string.Join(", ", head)}{note}";
    }

    /// <summary>
    /// The surgery of a run's method: VectorFit's or SVFT's on the architecture's q/k/v/o/f1/f2, or, for full
    /// fine-tuning, none (every module of the encoder and the head trained fully, saved whole).
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="options">The run's options (method, variant, SVFT pattern).</param>
    /// <param name="headModules">Module names trained fully with the head.</param>
    /// <returns>The surgery config.</returns>
    public static VectorFitConfig SurgeryConfig(SequenceClassifier model, TrainingOptions options, IReadOnlyList<string> headModules)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        return options.Method switch
        {
            FineTuningMethod.Svft => SurgeryConfig(model, options.Variant, headModules) with { Method = new SvftMethod { Pattern = options.SvftPattern } },
            FineTuningMethod.Full => new VectorFitConfig
            {
                TargetPredicate = static (_, _) => false,
                AllowUnmatchedTargets = true,
                ModulesToSave = [model.BaseModelPrefix, .. headModules.Where(h => !h.StartsWith(model.BaseModelPrefix + ".", StringComparison.Ordinal))],
            },
            _ => SurgeryConfig(model, options.Variant, headModules) with { FactorDType = options.FactorDType },
        };
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Parallel?.Dispose();
        Optimizer.Dispose();
        Model.Dispose();
    }
}

using System.Globalization;
using GlueFineTune.Data;
using VectorFit.Transformers.Models;
using VectorFit;

namespace GlueFineTune.Training;

/// <summary>How the learning rate moves over training (AdamW, no warmup).</summary>
internal enum LearningRateSchedule
{
    /// <summary>Linear decay from the initial rate to 0 at the last step (Hugging Face's default, here without warmup).</summary>
    Linear,

    /// <summary>The initial rate throughout.</summary>
    Constant,
}

/// <summary>Everything one fine-tuning run needs, resolved from the command line and the task's Table 7 preset.</summary>
internal sealed record TrainingOptions
{
    /// <summary>The GLUE task (or the demo task).</summary>
    public required GlueTask Task { get; init; }

    /// <summary>The Hugging Face checkpoint folder (config.json, model.safetensors, vocab.txt or spm.model).</summary>
    public required string ModelDirectory { get; init; }

    /// <summary>The GLUE data folder (<c>null</c> for the built-in demo data).</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Where the adapter, metrics, AVF report and the resumable checkpoint go.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>The user's own data (<c>--train</c>/<c>--dev</c>), already read; <c>null</c> for GLUE and the demo.</summary>
    public CustomData? CustomData { get; init; }

    /// <summary>
    /// <c>--avf-start-epoch</c>: the first AVF step in epochs (with <see cref="AvfEveryEpochs"/>); <c>null</c> to
    /// use <see cref="Avf"/>'s steps as they are.
    /// </summary>
    public double? AvfStartEpoch { get; init; }

    /// <summary><c>--avf-every-epochs</c>: epochs between AVF steps (with <see cref="AvfStartEpoch"/>).</summary>
    public double? AvfEveryEpochs { get; init; }

    /// <summary>The ablation variant (default VectorFit with AVF).</summary>
    public VectorFitVariant Variant { get; init; } = VectorFitVariant.VectorFit;

    /// <summary>What trains (<c>--method</c>): VectorFit (default), SVFT or every weight.</summary>
    public FineTuningMethod Method { get; init; } = FineTuningMethod.VectorFit;

    /// <summary>SVFT's pattern of trained M entries (<c>--svft-pattern</c>; default banded with 2 off-diagonals).</summary>
    public SvftPattern SvftPattern { get; init; } = SvftPattern.Banded(2);

    /// <summary>
    /// <c>--factor-dtype</c>: the dtype VectorFit layers store U and V in (<see cref="VectorFitConfig.FactorDType"/>); <c>null</c>
    /// for the weights' own (float32).
    /// </summary>
    public TorchSharp.torch.ScalarType? FactorDType { get; init; }

    /// <summary>Whether AVF runs: the VectorFit method with the VectorFit variant.</summary>
    public bool UsesAvf => Method == FineTuningMethod.VectorFit && Variant.UsesAvf();

    /// <summary>The method and its variant or pattern, for the log.</summary>
    public string MethodDisplay => Method switch
    {
        FineTuningMethod.VectorFit => VariantNames.Display(Variant) + (FactorDType is { } factors ? $", U and V in {factors}" : string.Empty),
        FineTuningMethod.Svft => $"SVFT (M on pattern {SvftPattern} and b of q,k,v,o,f1,f2; σ frozen, no AVF)",
        _ => "full fine-tuning (every weight of the encoder and the head)",
    };

    /// <summary>How the hidden states are pooled for the head (<c>--pooling</c>).</summary>
    public Pooling Pooling { get; init; } = Pooling.Pooler;

    /// <summary>Training epochs.</summary>
    public required int Epochs { get; init; }

    /// <summary>Training batch size.</summary>
    public required int BatchSize { get; init; }

    /// <summary>Evaluation batch size.</summary>
    public int EvalBatchSize { get; init; } = 64;

    /// <summary>AdamW's initial learning rate.</summary>
    public required double LearningRate { get; init; }

    /// <summary>The learning-rate schedule.</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Linear;

    /// <summary>Longest tokenised input, special tokens included (longer pairs are truncated longest first).</summary>
    public int MaxLength { get; init; } = 128;

    /// <summary>Seed of weight initialisation, data order and dropout.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>The AVF schedule (used by the VectorFit variant only).</summary>
    public required AvfOptions Avf { get; init; }

    /// <summary>Which settings came from which defaults, for the log (e.g. "epochs, batch, lr from Table 7, SST-2").</summary>
    public string PresetSource { get; init; } = "every value from the command line";

    /// <summary>Stop after this many optimizer steps (a short trial); <c>null</c> to train all epochs.</summary>
    public long? MaxSteps { get; init; }

    /// <summary>Continue from the checkpoint in <see cref="CheckpointDirectory"/>.</summary>
    public bool Resume { get; init; }

    /// <summary>The resumable checkpoint's folder (inside the output folder).</summary>
    public string CheckpointDirectory => Path.Combine(OutputDirectory, "checkpoint");

    /// <summary>Checks every field.</summary>
    /// <exception cref="ArgumentException">A field is out of range; the message names it and the fix.</exception>
    public void Validate()
    {
        Require(Epochs >= 1, $"--epochs must be at least 1, got {Epochs}.");
        Require(BatchSize >= 1, $"--batch-size must be at least 1, got {BatchSize}.");
        Require(EvalBatchSize >= 1, $"--eval-batch-size must be at least 1, got {EvalBatchSize}.");
        Require(LearningRate > 0 && double.IsFinite(LearningRate), $"--lr must be a positive number, got {LearningRate.ToString(CultureInfo.InvariantCulture)}.");
        Require(MaxLength >= 4, $"--max-length must be at least 4 (room for [CLS] a [SEP] b [SEP]), got {MaxLength}.");
        Require(MaxSteps is null or >= 1, $"--max-steps must be at least 1, got {MaxSteps}.");
        Require(Enum.IsDefined(Variant), $"variant {(int)Variant} is not defined.");
        Require(AvfEveryEpochs is null || AvfStartEpoch is not null, "--avf-every-epochs needs --avf-start-epoch (the epoch of the first AVF step).");
        try
        {
            Avf.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"the AVF schedule (--t-i/--t-f/--n-f/--k) is invalid: {e.Message}", e);
        }
    }

    /// <summary>
    /// The AVF schedule in steps: <see cref="Avf"/>, or, with <see cref="AvfStartEpoch"/> and <see cref="AvfEveryEpochs"/>,
    /// those epochs turned into steps of the planned <see cref="Epochs"/> (<c>n_f</c> capped to the AVF steps that fit).
    /// <see cref="MaxSteps"/> stops the run early without changing its schedule, as it leaves the learning rate's.
    /// </summary>
    /// <param name="stepsPerEpoch">Optimizer steps per epoch.</param>
    /// <returns>The schedule.</returns>
    /// <exception cref="ArgumentException">The epochs put the first AVF step after the end of training.</exception>
    public AvfOptions AvfSchedule(long stepsPerEpoch)
    {
        if (AvfStartEpoch is not { } start || !Avf.Enabled)
        {
            return Avf;
        }

        double every = AvfEveryEpochs ?? 1;
        try
        {
            AvfOptions fitting = AvfOptions.FromEpochs(stepsPerEpoch, Epochs, avfSteps: null, initialEpochs: start, intervalEpochs: every, k: Avf.K, beta: Avf.Beta);
            return fitting with { AvfSteps = Math.Min(fitting.AvfSteps, Avf.AvfSteps) };
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"--avf-start-epoch {start:0.###} is at or past the end of training ({Epochs} epoch{(Epochs == 1 ? string.Empty : "s")} of {stepsPerEpoch} steps); lower it, train longer (--epochs), or turn AVF off with --n-f 0."), e);
        }
    }

    /// <summary>A one-line description of the run's settings.</summary>
    /// <returns>The line.</returns>
    public string Describe() => string.Create(
        CultureInfo.InvariantCulture,
        $"task {Task.Name}, method {MethodDisplay}, pooling {PoolingNames.Name(Pooling)}, epochs {Epochs}, batch {BatchSize}, lr {LearningRate:G3} ({Schedule.ToString().ToLowerInvariant()} decay, AdamW β 0.9/0.999, no weight decay, no warmup), max length {MaxLength}, seed {Seed}; {PresetSource}");

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message);
        }
    }
}

using System.Diagnostics;
using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Benchmarks.Models;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>The fine-tuning methods the model-level benchmark compares.</summary>
public enum TrainingMethod
{
    /// <summary>Every parameter trains.</summary>
    Full,

    /// <summary>LoRA r = 1 (α = 1) on q, k, v, o, f1, f2 (<see cref="LoraLinear"/>, on <see cref="TargetPreset.Bert"/>'s layers); the head trains.</summary>
    Lora,

    /// <summary>VectorFit through the library: <see cref="ModelSurgery"/> on q, k, v, o, f1, f2 (<see cref="TargetPreset.Bert"/>) and an <see cref="AvfScheduler"/>; the head trains.</summary>
    VectorFit,

    /// <summary>SVFT (banded, d = 2, the library's default pattern) through the library on the same projections; the head trains.</summary>
    Svft,
}

/// <summary>One model being trained: the model, its optimizer, the parameters it trains and, for VectorFit, AVF.</summary>
public sealed class TrainingRun : IDisposable
{
    /// <summary>Learning rate of every method (AdamW, weight decay 0, β 0.9/0.999), as in step.py.</summary>
    public const double LearningRate = 1e-4;

    private static readonly PropertyInfo? PathOverride =
        typeof(VectorFitLinear).GetProperty("PathOverride", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public);

    private TrainingRun(TrainingMethod method, HiddenStateClassifier model, IReadOnlyList<Parameter> trained, AvfScheduler? avf, TimeSpan setup)
    {
        Method = method;
        Model = model;
        Trained = trained;
        Avf = avf;
        SetupTime = setup;
        Optimizer = new VectorFit.Optim.AdamW(trained, lr: LearningRate);
    }

    /// <summary>The method.</summary>
    public TrainingMethod Method { get; }

    /// <summary>The model (adapted for the method).</summary>
    public HiddenStateClassifier Model { get; }

    /// <summary>Every parameter the optimizer was given (AVF-frozen vectors stay in it, skipped while their grad is null).</summary>
    public IReadOnlyList<Parameter> Trained { get; }

    /// <summary>AdamW over <see cref="Trained"/>.</summary>
    public optim.Optimizer Optimizer { get; }

    /// <summary>AVF for VectorFit, otherwise <c>null</c>.</summary>
    public AvfScheduler? Avf { get; }

    /// <summary>Time to adapt the base model (for VectorFit: <see cref="ModelSurgery.Apply"/>, every SVD included).</summary>
    public TimeSpan SetupTime { get; }

    /// <summary>The model-level AVF schedule: an AVF step at every step, k = 5 — the most AVF can cost per step.</summary>
    public static AvfOptions WorstCaseAvf { get; } = new() { InitialStep = 1, Interval = 1, AvfSteps = 1_000_000, K = 5 };

    /// <summary>Whether this build of the library lets the benchmark force a VectorFit evaluation path (diagnostics only).</summary>
    public static bool CanForcePath => PathOverride is not null;

    /// <summary>The base model from <paramref name="seed"/>, adapted for <paramref name="method"/>.</summary>
    /// <param name="method">The method.</param>
    /// <param name="shape">The encoder's shape.</param>
    /// <param name="seed">The seed of the base model's weights.</param>
    /// <param name="factorDType">VectorFit only: U and V stored in this dtype (<see cref="VectorFitConfig.FactorDType"/>); null for the weights' own.</param>
    public static TrainingRun Create(TrainingMethod method, EncoderShape shape, long seed = 0, torch.ScalarType? factorDType = null)
    {
        var model = BuildBase(shape, seed);
        var clock = Stopwatch.StartNew();
        AvfScheduler? avf = null;
        switch (method)
        {
            case TrainingMethod.Full:
                break;
            case TrainingMethod.Lora:
                foreach (var parameter in model.parameters())
                {
                    parameter.requires_grad = false;
                }

                LoraLinear.Inject(model, TargetPreset.Bert, rank: 1, alpha: 1);

                foreach (var parameter in model.Head.parameters())
                {
                    parameter.requires_grad = true;
                }

                break;
            case TrainingMethod.VectorFit:
                ModelSurgery.Apply(model, SurgeryConfig with { FactorDType = factorDType });
                avf = AvfScheduler.FromModel(model, WorstCaseAvf);
                break;
            case TrainingMethod.Svft:
                ModelSurgery.Apply(model, SurgeryConfig with { Method = new SvftMethod() });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(method), method, "Unknown method.");
        }

        clock.Stop();
        var trained = model.parameters().Where(p => p.requires_grad).ToList();
        return new TrainingRun(method, model, trained, avf, clock.Elapsed);
    }

    /// <summary>The VectorFit configuration: the six projections by their Hugging Face names (<see cref="TargetPreset.Bert"/>), the head trained fully.</summary>
    public static VectorFitConfig SurgeryConfig { get; } = new()
    {
        Preset = TargetPreset.Bert,
        ModulesToSave = new[] { "head" },
    };

    /// <summary>A freshly initialised model from <paramref name="seed"/>.</summary>
    public static HiddenStateClassifier BuildBase(EncoderShape shape, long seed = 0)
    {
        torch.manual_seed(seed);
        return new HiddenStateClassifier(shape);
    }

    /// <summary>
    /// Forces every VectorFit layer of the model onto one evaluation path ("Auto", "Factored", "Materialized") through
    /// the layer's internal switch; diagnostics only (see <see cref="CanForcePath"/>).
    /// </summary>
    public void ForcePath(string path)
    {
        if (PathOverride is null)
        {
            throw new InvalidOperationException("This build of VectorFitLinear has no PathOverride switch; run without --diagnostics.");
        }

        var value = Enum.Parse(PathOverride.PropertyType, path);
        foreach (var (_, layer) in ModelSurgery.FindLayers<VectorFitLinear>(Model))
        {
            PathOverride.SetValue(layer, value);
        }
    }

    /// <summary>How many VectorFit layers hold a composed weight now (the layer's internal cache, read by reflection; diagnostics only).</summary>
    public int HeldComposedWeights()
    {
        var cache = typeof(VectorFitLinear).GetProperty("ComposedWeight", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public);
        var count = 0;
        foreach (var (_, layer) in ModelSurgery.FindLayers<VectorFitLinear>(Model))
        {
            var held = cache?.GetValue(layer) is { } value ? value.GetType().GetProperty("IsHeld")?.GetValue(value) : null;
            count += held is true ? 1 : 0;
        }

        return count;
    }

    /// <summary>One training step: zero_grad, forward, cross-entropy, backward, AdamW, then AVF.</summary>
    public void Step(Tensor input, Tensor labels)
    {
        using var scope = torch.NewDisposeScope();
        Optimizer.zero_grad();
        var loss = nn.functional.cross_entropy(Model.forward(input), labels);
        loss.backward();
        Optimizer.step();
        Avf?.step();
    }

    /// <summary>Values the optimizer trains, and their bytes with gradients and AdamW's two moments.</summary>
    public TrainableState State()
    {
        var values = Trained.Sum(p => p.numel());
        var head = Model.Head.parameters().Sum(p => p.numel());
        var element = Trained.Count == 0 ? 4 : Trained[0].element_size();
        return new TrainableState(values, head, 4 * values * element, 4 * (values - head) * element);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
    }
}

/// <summary>Trainable state: parameters, gradients and AdamW's two moments (4 tensors per trained value).</summary>
/// <param name="TrainableValues">Values the optimizer trains (AVF-frozen vectors included: their moments stay).</param>
/// <param name="HeadValues">Of which the classifier head's.</param>
/// <param name="Bytes">4 × values × element size.</param>
/// <param name="BytesWithoutHead">The same without the head (the paper's count).</param>
public sealed record TrainableState(long TrainableValues, long HeadValues, long Bytes, long BytesWithoutHead);

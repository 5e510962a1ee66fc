using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using VectorFit.Surgery;

namespace VectorFit;

/// <summary>
/// Adaptive Vector Freezing (method §3, paper §3.2): tracks every trainable σ and b of the given
/// <see cref="VectorFitLinear"/> layers and, at the scheduled AVF steps, freezes the <c>k</c> vectors that
/// have trained the most so that the others get the updates.
/// </summary>
/// <remarks>
/// Call <see cref="step"/> once per optimizer step, after <c>optimizer.step()</c>; steps are counted from 1,
/// so the n-th call is step n. At an AVF step <c>t = t_i + j·t_f</c> (<c>j &lt; n_f</c>):
/// <list type="number">
/// <item>training strength <c>S_v(t) = ‖v_0 − v_t‖₁ / dim(v)</c> for every vector;</item>
/// <item><c>S'_v ← β·S'_v + (1 − β)·S_v(t)</c>, with <c>S'</c> starting at 0 and updated only at AVF steps (Decided 1);</item>
/// <item>the frozen set becomes the <c>k</c> largest <c>S'</c>, ties to the earlier vector (Decided 2, 6): these get
/// <c>requires_grad = false</c> and <c>grad = null</c>, so SGD-momentum, Adam and AdamW skip them and they do not
/// move at all while frozen, their optimizer state kept (Decided 4); the others get <c>requires_grad = true</c>.</item>
/// </list>
/// After the <c>n_f</c>-th AVF step the last frozen set stays frozen (Decided 3). Vectors a layer does not train
/// (<see cref="VectorFitLinearOptions.TrainSigma"/> / <see cref="VectorFitLinearOptions.TrainBias"/> false), and
/// everything that is not a VectorFit vector (the task head, Decided 5), are never part of AVF.
/// </remarks>
public sealed class AvfScheduler
{
    private readonly List<AvfVector> _vectors;
    private readonly Adapters.AdapterBank.AvfBinding? _adapter;
    private long _stepCount;

    /// <summary>Tracks the σ and b of <paramref name="layers"/> (in the given order, which breaks ties), snapshotting their current values as <c>v_0</c>.</summary>
    /// <param name="layers">The adapted layers with their names in the model, e.g. from <c>model.named_modules()</c>. Construct the scheduler before the first optimizer step.</param>
    /// <param name="options">The schedule; validated here.</param>
    /// <param name="totalSteps">
    /// The optimizer steps the run will take, when known (<c>batches per epoch × epochs</c>). When some AVF step of
    /// <paramref name="options"/> falls after it, the scheduler says so once (<see cref="ScheduleWarning"/>; the
    /// library writes nothing to the console, so print it), because a paper preset on a short run freezes nothing. <c>null</c>: not checked.
    /// </param>
    /// <exception cref="ArgumentException">
    /// Invalid options, no layer while the schedule has AVF steps, a null, repeated or unnamed layer, <c>K</c> above the number of
    /// trainable vectors, or <paramref name="totalSteps"/> below 1.
    /// </exception>
    public AvfScheduler(IEnumerable<(string name, SvdAdaptedLinear layer)> layers, AvfOptions options, long? totalSteps = null)
        : this(VectorsOf(layers, options, totalSteps), options, totalSteps, adapter: null)
    {
    }

    /// <summary>A scheduler over vectors built by <see cref="VectorsOf"/> or by an adapter bank (checked there), bound to <paramref name="adapter"/> if any.</summary>
    internal AvfScheduler(List<AvfVector> vectors, AvfOptions options, long? totalSteps, Adapters.AdapterBank.AvfBinding? adapter)
    {
        CheckOptions(options, totalSteps);
        _vectors = vectors;
        _adapter = adapter;
        if (options.Enabled && options.K > _vectors.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.K,
                $"K must be between 0 and {_vectors.Count} (the number of trainable vectors), got {options.K}. Lower K or adapt more layers.");
        }

        Options = options;
        TotalSteps = totalSteps;
        // A library does not write to the console: the caller decides where the warning goes (the README's loop prints it).
        ScheduleWarning = FitWarning(options, totalSteps);
    }

    /// <summary>Checks the schedule and the run length given to a constructor.</summary>
    internal static void CheckOptions(AvfOptions options, long? totalSteps)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (totalSteps is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps,
                $"totalSteps must be at least 1 (the optimizer steps of the whole run, batches per epoch × epochs), got {totalSteps}; pass null when it is not known.");
        }
    }

    /// <summary>A new vector of a bank adapter's scheduler: <paramref name="parameter"/> is the adapter's σ or b of <paramref name="layer"/>.</summary>
    internal static AvfVector BankVector(int index, string layerName, SvdAdaptedLinear layer, AvfVectorKind kind, Parameter parameter)
        => new(index, layerName, layer, kind, ReadVector(parameter), parameter);

    private static List<AvfVector> VectorsOf(IEnumerable<(string name, SvdAdaptedLinear layer)> layers, AvfOptions options, long? totalSteps)
    {
        ArgumentNullException.ThrowIfNull(layers);
        CheckOptions(options, totalSteps);
        var list = layers.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<SvdAdaptedLinear>(ReferenceEqualityComparer.Instance);
        foreach (var (name, layer) in list)
        {
            if (name is null || layer is null)
            {
                throw new ArgumentException("Every layer needs a name and a VectorFitLinear; got a null entry. Pass (name, layer) pairs from model.named_modules().", nameof(layers));
            }

            if (!layer.SupportsAvf)
            {
                throw new ArgumentException(
                    $"The layer '{name}' is of type {layer.GetType().Name} (method {layer.Method}), and Adaptive Vector Freezing applies to VectorFit layers only. " +
                    "Pass only VectorFitLinear layers, or train this method without an AvfScheduler.",
                    nameof(layers));
            }

            if (!names.Add(name) || !seen.Add(layer))
            {
                throw new ArgumentException($"The layer '{name}' is listed twice (same name or same module); each adapted layer must appear once.", nameof(layers));
            }
        }

        var vectors = new List<AvfVector>();
        foreach (var (name, layer) in list)
        {
            foreach (var (kind, vector) in layer.AvfVectors())
            {
                vectors.Add(new AvfVector(vectors.Count, name, layer, kind, ReadVector(vector)));
            }
        }

        if (options.Enabled && list.Count == 0)
        {
            throw new ArgumentException(
                "There is no VectorFit layer to schedule: the list of layers is empty. Adapt the model with ModelSurgery.Apply (Method = AdaptationMethod.VectorFit) " +
                "and pass its VectorFitLinear layers, or use AvfOptions.None.",
                nameof(layers));
        }

        return vectors;
    }

    /// <summary>Tracks every <see cref="VectorFitLinear"/> in <paramref name="model"/>, in <c>named_modules()</c> order.</summary>
    /// <param name="model">The adapted model (the root itself counts when it is a VectorFitLinear, with the name "").</param>
    /// <param name="options">The schedule, e.g. <c>AvfOptions.FromEpochs(stepsPerEpoch, epochs)</c> or a paper preset's <see cref="AvfPreset.AvfOptions"/>.</param>
    /// <param name="totalSteps">The optimizer steps the run will take, when known; the scheduler says once when the schedule does not fit in them (see <see cref="ScheduleWarning"/>).</param>
    /// <returns>A scheduler over all VectorFit vectors of the model.</returns>
    /// <exception cref="ArgumentException">
    /// The schedule has AVF steps but the model holds no <see cref="VectorFitLinear"/> (it was not adapted, or adapted with SVFT, which AVF does not apply to);
    /// or see the constructor.
    /// </exception>
    public static AvfScheduler FromModel(nn.Module model, AvfOptions options, long? totalSteps = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var layers = new List<(string, SvdAdaptedLinear)>();
        var otherLayers = new List<nn.Module>();
        if (model is SvdAdaptedLinear root)
        {
            if (root.SupportsAvf)
            {
                layers.Add((string.Empty, root));
            }
            else
            {
                otherLayers.Add(root);
            }
        }

        // A layer registered under two names (shared by two parents) is one layer: tracked once, under its first name,
        // as surgery and adapters name it.
        var seen = new HashSet<SvdAdaptedLinear>(ReferenceEqualityComparer.Instance);
        foreach (var (name, module) in model.named_modules())
        {
            if (module is SvdAdaptedLinear layer && seen.Add(layer) && !ReferenceEquals(layer, model))
            {
                if (layer.SupportsAvf)
                {
                    layers.Add((name, layer));
                }
                else
                {
                    otherLayers.Add(layer);
                }
            }
        }

        if (layers.Count == 0 && options.Enabled)
        {
            throw new ArgumentException(
                otherLayers.Count > 0
                    ? $"There is no VectorFit layer to schedule: the model's {otherLayers.Count} adapted layer(s) are {AdaptedLayers.KindsOf(otherLayers)}, and Adaptive Vector Freezing applies to VectorFit layers only. " +
                      "Train SVFT without an AvfScheduler (or with AvfOptions.None), or adapt the model with Method = AdaptationMethod.VectorFit."
                    : $"There is no VectorFit layer to schedule: the model ({model.GetType().Name}) holds no VectorFitLinear. " +
                      "Call ModelSurgery.Apply(model, config) first, then build the scheduler (and the optimizer) on the adapted model.",
                nameof(model));
        }

        return new AvfScheduler(layers, options, totalSteps);
    }

    /// <summary>The run's planned optimizer steps, when given to the constructor or <see cref="FromModel"/>; <c>null</c> otherwise.</summary>
    public long? TotalSteps { get; }

    /// <summary>
    /// Why the schedule does not fit <see cref="TotalSteps"/> (some AVF step falls after the run ends; when the first does, AVF freezes
    /// nothing), or <c>null</c> when it fits or the total is not known. Set when the scheduler is built; the library does not print it (the caller does).
    /// </summary>
    public string? ScheduleWarning { get; }

    /// <summary>The schedule.</summary>
    public AvfOptions Options { get; }

    /// <summary>
    /// The adapter of an <see cref="Adapters.AdapterBank"/> whose σ and b this scheduler freezes (built by
    /// <see cref="Adapters.AdapterBank.CreateAvfScheduler"/>), or <c>null</c> for a scheduler of a model's own layers.
    /// </summary>
    public string? AdapterName => _adapter?.AdapterName;

    /// <summary>The bank adapter this scheduler is for, or <c>null</c>.</summary>
    internal Adapters.AdapterBank.AvfBinding? Binding => _adapter;

    /// <summary>Every tracked vector, in tie-break order, with its smoothed strength and frozen flag.</summary>
    public IReadOnlyList<AvfVector> Vectors => _vectors;

    /// <summary>The vectors frozen now, in vector order.</summary>
    public IReadOnlyList<AvfVector> FrozenSet => _vectors.Where(v => v.IsFrozen).ToList();

    /// <summary>Optimizer steps counted so far (the number of <see cref="step"/> calls, or the restored count).</summary>
    public long StepCount => _stepCount;

    /// <summary>AVF steps taken so far (0 to <c>n_f</c>).</summary>
    public int AvfStepsTaken => !Options.Enabled || _stepCount < Options.InitialStep
        ? 0
        : (int)Math.Min(Options.AvfSteps, ((_stepCount - Options.InitialStep) / Options.Interval) + 1);

    /// <summary>The step number of the next AVF step, or <c>null</c> when none is left.</summary>
    public long? NextAvfStep => AvfStepsTaken < Options.AvfSteps ? Options.InitialStep + (AvfStepsTaken * Options.Interval) : null;

    /// <summary>Counts one optimizer step; at an AVF step, updates the smoothed strengths and the frozen set.</summary>
    /// <returns><c>true</c> when this step was an AVF step.</returns>
    /// <exception cref="InvalidOperationException">
    /// A vector's training strength is not finite (training has diverged); nothing is changed but the step count. Or, for a bank
    /// adapter's scheduler, the adapter was unloaded or the bank disposed; nothing is changed.
    /// </exception>
    public bool step()
    {
        _adapter?.ThrowIfGone();
        _stepCount++;
        if (!Options.IsAvfStep(_stepCount))
        {
            return false;
        }

        var strengths = TrainingStrength();
        for (var i = 0; i < _vectors.Count; i++)
        {
            if (!double.IsFinite(strengths[i]))
            {
                throw new InvalidOperationException(
                    $"AVF step {_stepCount}: the training strength of '{_vectors[i].Name}' is {strengths[i]}, so training has diverged. Lower the learning rate or restore a checkpoint.");
            }
        }

        for (var i = 0; i < _vectors.Count; i++)
        {
            _vectors[i].SmoothedStrength = (Options.Beta * _vectors[i].SmoothedStrength) + ((1 - Options.Beta) * strengths[i]);
        }

        // OrderBy is stable, so equal S' keep vector order (Decided 6).
        var frozen = _vectors.OrderByDescending(v => v.SmoothedStrength).Take(Options.K).ToHashSet();
        foreach (var vector in _vectors)
        {
            SetFrozen(vector, frozen.Contains(vector));
        }

        return true;
    }

    /// <summary>The training strength of every vector now, <c>S_v(t) = ‖v_0 − v_t‖₁ / dim(v)</c>, in vector order.</summary>
    /// <returns>One value per entry of <see cref="Vectors"/>, computed in float64.</returns>
    /// <remarks>Method §3. Unlike <see cref="AvfVector.SmoothedStrength"/>, this is not smoothed and not tied to AVF steps.</remarks>
    public IReadOnlyList<double> TrainingStrength() => _vectors.Select(TrainingStrength).ToArray();

    /// <summary>The training strength of one vector now, <c>‖v_0 − v_t‖₁ / dim(v)</c>.</summary>
    /// <param name="vector">One of <see cref="Vectors"/>.</param>
    /// <returns>The mean absolute change since <c>v_0</c>.</returns>
    /// <exception cref="ArgumentException">The vector does not belong to this scheduler.</exception>
    /// <exception cref="InvalidOperationException">For a bank adapter's scheduler: the adapter was unloaded or the bank disposed.</exception>
    public double TrainingStrength(AvfVector vector)
    {
        ArgumentNullException.ThrowIfNull(vector);
        if (vector.Index >= _vectors.Count || !ReferenceEquals(_vectors[vector.Index], vector))
        {
            throw new ArgumentException($"The vector '{vector.Name}' belongs to another AvfScheduler; pass one of this scheduler's Vectors.", nameof(vector));
        }

        _adapter?.ThrowIfGone();

        var current = ReadVector(vector.Parameter);
        var initial = vector.Initial;
        if (current.Length != initial.Length)
        {
            throw new InvalidOperationException($"'{vector.Name}' has {current.Length} values but had {initial.Length} when AVF started; the layer was replaced.");
        }

        var sum = 0.0;
        for (var i = 0; i < current.Length; i++)
        {
            sum += Math.Abs(initial[i] - current[i]);
        }

        return current.Length == 0 ? 0 : sum / current.Length;
    }

    /// <summary>A copy of the scheduler's state, for checkpoints (see <see cref="AvfState.ToTensors"/>).</summary>
    /// <returns>The step count, schedule, and per vector the smoothed strength, frozen flag and initial value.</returns>
    public AvfState state_dict()
        => new(_stepCount, Options, _vectors.Select(v => new AvfVectorState(v.Name, v.Index, v.SmoothedStrength, v.IsFrozen, v.Initial.ToArray())).ToList());

    /// <summary>Restores a state from <see cref="state_dict"/> and re-applies its frozen set to the parameters.</summary>
    /// <param name="state">A state saved from a scheduler over the same layers with the same schedule.</param>
    /// <exception cref="ArgumentException">The state's schedule, vectors or sizes differ from this scheduler's; nothing is changed.</exception>
    /// <exception cref="InvalidOperationException">For a bank adapter's scheduler: the adapter was unloaded or the bank disposed; nothing is changed.</exception>
    public void load_state_dict(AvfState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        _adapter?.ThrowIfGone();
        if (state.AvfOptions != Options)
        {
            throw new ArgumentException($"The state was saved with {state.AvfOptions} but this scheduler runs {Options}; construct the scheduler with state.Options to resume.", nameof(state));
        }

        if (state.StepCount < 0 || state.Vectors.Count != _vectors.Count)
        {
            throw new ArgumentException($"The state has step {state.StepCount} and {state.Vectors.Count} vectors; this scheduler tracks {_vectors.Count} (steps cannot be negative). Load it onto the same adapted model.", nameof(state));
        }

        var frozenCount = 0;
        for (var i = 0; i < _vectors.Count; i++)
        {
            var saved = state.Vectors[i];
            var vector = _vectors[i];
            if (saved.Name != vector.Name || saved.Index != i || saved.Initial.Count != vector.Length)
            {
                throw new ArgumentException($"State vector {i} is '{saved.Name}' with {saved.Initial.Count} values, but this scheduler's vector {i} is '{vector.Name}' with {vector.Length}. Load it onto the same adapted model, adapted with the same options.", nameof(state));
            }

            if (!double.IsFinite(saved.SmoothedStrength) || saved.SmoothedStrength < 0 || saved.Initial.Any(x => !double.IsFinite(x)))
            {
                throw new ArgumentException($"State vector '{saved.Name}' holds a smoothed strength of {saved.SmoothedStrength} or a non-finite initial value; strengths are finite and non-negative. The state is corrupt.", nameof(state));
            }

            frozenCount += saved.IsFrozen ? 1 : 0;
        }

        if (frozenCount > Options.K || (frozenCount > 0 && !Options.Enabled))
        {
            throw new ArgumentException($"The state freezes {frozenCount} vectors but the schedule freezes at most {(Options.Enabled ? Options.K : 0)}; the state is corrupt.", nameof(state));
        }

        _stepCount = state.StepCount;
        for (var i = 0; i < _vectors.Count; i++)
        {
            var saved = state.Vectors[i];
            _vectors[i].SmoothedStrength = saved.SmoothedStrength;
            _vectors[i].Initial = saved.Initial.ToArray();
            SetFrozen(_vectors[i], saved.IsFrozen);
        }
    }

    private static string? FitWarning(AvfOptions options, long? totalSteps)
    {
        if (totalSteps is not { } total || options.LastAvfStep is not { } last || last <= total)
        {
            return null;
        }

        const string Fix = "Build a schedule for this run with AvfOptions.FromEpochs(stepsPerEpoch, epochs): the paper presets (AvfPresets) are for the paper's full-length runs.";
        if (options.InitialStep > total)
        {
            return $"the AVF schedule does not fit this run: its first AVF step is step {options.InitialStep} (InitialStep, t_i) but the run has {total} steps, so AVF will freeze nothing. {Fix}";
        }

        var reached = ((total - options.InitialStep) / options.Interval) + 1;
        return $"the AVF schedule does not fit this run: only {reached} of its {options.AvfSteps} AVF steps fall within the run's {total} steps (the last is at step {last}). {Fix}";
    }

    private static void SetFrozen(AvfVector vector, bool frozen)
    {
        var parameter = vector.Parameter;
        if (frozen)
        {
            // Both are needed: with a gradient tensor left in place, SGD-momentum, Adam and AdamW keep
            // moving the parameter (facts #5); with grad null they skip it and keep its state.
            parameter.requires_grad = false;
            parameter.grad = null;
        }
        else
        {
            parameter.requires_grad = true;
        }

        vector.IsFrozen = frozen;
    }

    private static double[] ReadVector(Tensor parameter)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var cpu = parameter.detach().to(ScalarType.Float64, new Device(DeviceType.CPU));
        return cpu.data<double>().ToArray();
    }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// Turns the selected <c>Linear</c> layers of any TorchSharp model into <see cref="VectorFitLinear"/> layers (or
/// <see cref="SvftLinear"/> layers, with <see cref="VectorFitConfig.Method"/> = <see cref="AdaptationMethod.Svft"/>) in place, freezes everything but the trained vectors and the fully trained modules, and merges adapted
/// models back to plain <c>Linear</c> layers.
/// </summary>
/// <remarks>
/// Surgery is all-or-nothing: every selector, every module to save and every replacement is checked before
/// anything changes, and the new layers are all built before any is put in place. After it, <c>forward</c>,
/// <c>named_modules</c>, <c>named_parameters</c> and <c>state_dict</c> all see the new layers. Replaced
/// <c>Linear</c> layers are disposed, so their weights are freed at once rather than at some later garbage
/// collection, unless one of their parameters is still a parameter of the model (tied weights): do not use a
/// <c>Linear</c> taken from the model before surgery afterwards (it reports an invalid tensor handle).
/// Module order is kept: each replaced child keeps its place among its parent's children.
/// </remarks>
public static class ModelSurgery
{
    /// <summary>
    /// Replaces the layers <paramref name="config"/> selects with <see cref="VectorFitLinear"/> (or <see cref="SvftLinear"/>)
    /// layers, then sets <c>requires_grad</c> so that only the trained σ (or SVFT values) and b and the modules in
    /// <see cref="VectorFitConfig.ModulesToSave"/> train (every other gradient is cleared).
    /// </summary>
    /// <param name="model">The model to adapt, changed in place.</param>
    /// <param name="config">What to adapt and train; validated here.</param>
    /// <returns>The adapted layers and the parameter counts (print it for PEFT's summary line).</returns>
    /// <exception cref="ArgumentException">
    /// The config is invalid; a selector or module to save matched nothing; a layer cannot be replaced where it is held
    /// (e.g. a field typed <c>Linear</c>; the message names the field, its type and the fix); the SVFT pattern does not fit a
    /// selected layer (<c>d ≥ r</c>, or Top-k on a non-square layer; every such layer is listed); or a weight is not finite.
    /// The model is unchanged.
    /// </exception>
    /// <exception cref="InvalidOperationException">The model already holds VectorFit or SVFT layers (surgery never wraps twice). The model is unchanged.</exception>
    public static SurgeryReport Apply(nn.Module model, VectorFitConfig config) => ApplyCore(model, config, svdCache: null);


    /// <summary>
    /// <see cref="Apply"/>, with the SVDs of the base weights read from, and new ones added to,
    /// the file <paramref name="svdCachePath"/>: adapting the same base model again (another task, or loading an adapter)
    /// then reads each decomposition instead of recomputing it.
    /// </summary>
    /// <param name="model">The model to adapt, changed in place.</param>
    /// <param name="config">What to adapt and train; validated here.</param>
    /// <param name="svdCachePath">
    /// A safetensors file of thin SVDs keyed by each weight's exact fingerprint (SHA-256 of its bytes, dtype and shape), created
    /// when missing; its folder must exist. A weight that changed in any bit misses the cache, so a stale entry is never used,
    /// and cached and uncached surgeries build bit-identical layers. The file is rewritten (atomically) only when the surgery
    /// computed a decomposition it did not hold.
    /// </param>
    /// <returns>The adapted layers and the parameter counts.</returns>
    /// <exception cref="ArgumentException">
    /// As <see cref="Apply"/>; or the file exists and is not an SVD cache, or its folder does not
    /// exist. The model is unchanged.
    /// </exception>
    /// <exception cref="InvalidOperationException">The model already holds VectorFit or SVFT layers. The model is unchanged.</exception>
    public static SurgeryReport ApplyWithSvdCache(nn.Module model, VectorFitConfig config, string svdCachePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(svdCachePath);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        using var cache = SvdCache.Open(svdCachePath);
        var report = ApplyCore(model, config, cache);
        cache.Save();
        return report;
    }

    private static SurgeryReport ApplyCore(nn.Module model, VectorFitConfig config, SvdCache? svdCache)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();

        var plan = SurgeryPlanner.Plan(model, config);
        var baseParameters = CountParameters(model.named_parameters(), _ => true);
        var created = BuildAll(plan.Layers, layer => AdaptedLayers.Create(layer.Linear, layer.Options, config, svdCache), (layer, e) =>
            new ArgumentException($"Surgery changed nothing: cannot adapt '{layer.Name}': {e.Message}", nameof(model), e));

        for (var i = 0; i < plan.Layers.Count; i++)
        {
            foreach (var slot in plan.Layers[i].Slots)
            {
                slot.Apply(created[i]);
            }
        }

        var savedModules = ModulesByName(model, plan.ModulesToSave);
        Freeze(model, created, savedModules);
        var frozenWeightsCount = plan.Layers.Sum(l => l.Linear.in_features * l.Linear.out_features);
        ReleaseReplaced(model, plan.Layers.Select(l => l.Linear));

        var infos = plan.Layers.Select((layer, i) => AdaptedLayers.Describe(layer.Name, layer.Role, created[i])).ToList();
        var frozenWeights = frozenWeightsCount;
        var saveParameters = CountParameters(savedModules.SelectMany(m => m.named_parameters()), _ => true);
        return new SurgeryReport(
            config,
            infos,
            plan.ModulesToSave,
            plan.Unmatched,
            baseParameters,
            CountParameters(model.named_parameters(), _ => true) + frozenWeights,
            CountParameters(model.named_parameters(), p => p.requires_grad),
            saveParameters);
    }

    /// <summary>
    /// Merges every <see cref="VectorFitLinear"/> and <see cref="SvftLinear"/> of <paramref name="model"/> back into a plain
    /// <c>Linear</c> (<see cref="VectorFitLinear.ToLinear"/>, <c>W = U·diag(σ)·Vᵀ</c>; <see cref="SvftLinear.ToLinear"/>,
    /// <c>W = U·(diag(σ) + M)·Vᵀ</c>), in place, like PEFT's <c>merge_and_unload</c>.
    /// </summary>
    /// <param name="model">An adapted model.</param>
    /// <returns>The names of the merged layers, in <c>named_modules()</c> order.</returns>
    /// <exception cref="InvalidOperationException">The model holds no VectorFit or SVFT layer (already merged?), or a merged weight is not finite. The model is unchanged.</exception>
    /// <exception cref="ArgumentException">A layer is held where a <c>Linear</c> cannot go (e.g. a field typed <c>VectorFitLinear</c>). The model is unchanged.</exception>
    /// <remarks>The merged layers are new, trainable <c>Linear</c>s; the adapted layers are not disposed.</remarks>
    public static IReadOnlyList<string> MergeAndUnload(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (AdaptedLayers.IsAdapted(model))
        {
            throw new ArgumentException($"The model itself is a {model.GetType().Name}, which has no parent to put a Linear in; call its ToLinear() instead.", nameof(model));
        }

        var occurrences = ModuleTree.Walk(model);
        var layers = AdaptedLayers.Distinct(occurrences);
        if (layers.Count == 0)
        {
            throw new InvalidOperationException("The model holds no VectorFitLinear layer to merge (and no SvftLinear): it was merged already, or ModelSurgery.Apply was never called on it.");
        }

        var slots = layers.Select(l => occurrences.Where(o => ReferenceEquals(o.Module, l.Layer))
            .Select(o => ChildReplacer.Plan(o.Slot, l.Layer, typeof(Linear))).ToList()).ToList();
        var problems = slots.SelectMany(s => s).SelectMany(p => p.Problems).ToList();
        if (problems.Count > 0)
        {
            throw new ArgumentException(
                $"Merge changed nothing: {problems.Count} layer(s) cannot be replaced in their parents.{Environment.NewLine}{string.Join(Environment.NewLine, problems)}",
                nameof(model));
        }

        var merged = BuildAll(layers, l => AdaptedLayers.Merge(l.Layer), (l, e) =>
            new InvalidOperationException($"Merge changed nothing: cannot merge '{l.Name}': {e.Message}", e));
        for (var i = 0; i < layers.Count; i++)
        {
            foreach (var slot in slots[i])
            {
                slot.Apply(merged[i]);
            }
        }

        return layers.Select(l => l.Name).ToList();
    }

    /// <summary>Every <see cref="VectorFitLinear"/> of <paramref name="model"/> with its full name, in <c>named_modules()</c> order (each layer once).</summary>
    /// <param name="model">An adapted model.</param>
    /// <returns>The named layers, e.g. to build an <see cref="AvfScheduler"/>.</returns>
    public static IReadOnlyList<(string Name, VectorFitLinear Layer)> FindVectorFitLayers(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return ModuleTree.Distinct<VectorFitLinear>(ModuleTree.Walk(model));
    }

    /// <summary>Every <see cref="SvftLinear"/> of <paramref name="model"/> with its full name, in <c>named_modules()</c> order (each layer once).</summary>
    /// <param name="model">A model adapted with <see cref="AdaptationMethod.Svft"/>.</param>
    /// <returns>The named layers.</returns>
    public static IReadOnlyList<(string Name, SvftLinear Layer)> FindSvftLayers(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return ModuleTree.Distinct<SvftLinear>(ModuleTree.Walk(model));
    }

    /// <summary>Counts the elements of distinct parameters that satisfy <paramref name="filter"/>.</summary>
    internal static long CountParameters(IEnumerable<(string name, Parameter parameter)> parameters, Func<Parameter, bool> filter)
    {
        var seen = new HashSet<IntPtr>();
        long count = 0;
        foreach (var (_, parameter) in parameters)
        {
            if (seen.Add(parameter.Handle) && filter(parameter))
            {
                count += parameter.numel();
            }
        }

        return count;
    }

    /// <summary>The modules called <paramref name="names"/> (first registration of each).</summary>
    internal static List<nn.Module> ModulesByName(nn.Module model, IReadOnlyList<string> names)
    {
        var byName = new Dictionary<string, nn.Module>(StringComparer.Ordinal);
        foreach (var (name, module) in model.named_modules())
        {
            byName.TryAdd(name, module);
        }

        return names.Select(n => byName.TryGetValue(n, out var m)
            ? m
            : throw new InvalidOperationException($"The model has no module named '{n}'.")).ToList();
    }

    private static List<TOut> BuildAll<TIn, TOut>(IReadOnlyList<TIn> items, Func<TIn, TOut> build, Func<TIn, Exception, Exception> wrap)
        where TOut : nn.Module
    {
        var built = new List<TOut>();
        var current = default(TIn);
        try
        {
            foreach (var item in items)
            {
                current = item;
                built.Add(build(item));
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            DisposeAll(built);
            throw wrap(current!, e);
        }
        catch
        {
            DisposeAll(built);
            throw;
        }

        return built;
    }

    private static void DisposeAll<T>(List<T> modules)
        where T : nn.Module
    {
        foreach (var module in modules)
        {
            module.Dispose();
        }
    }

    private static void Freeze(nn.Module model, IReadOnlyList<nn.Module> layers, IReadOnlyList<nn.Module> savedModules)
    {
        // Facts 5: requires_grad = false alone is not enough, a leftover gradient keeps momentum optimizers moving.
        foreach (var (_, parameter) in model.named_parameters())
        {
            SetTrainable(parameter, false);
        }

        foreach (var module in savedModules)
        {
            foreach (var (_, parameter) in module.named_parameters())
            {
                SetTrainable(parameter, true);
            }
        }

        foreach (var layer in layers)
        {
            foreach (var (parameter, trainable) in AdaptedLayers.TrainedParameters(layer))
            {
                SetTrainable(parameter, trainable);
            }
        }
    }

    // The replaced Linear layers are out of the model now; their weights would otherwise stay in memory until a garbage
    // collection finalizes them (for BERT-base, a third of the process). A layer whose weight or bias is still a
    // parameter of the model (tied weights) is left alone.
    private static void ReleaseReplaced(nn.Module model, IEnumerable<Linear> replaced)
    {
        var kept = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        var keptHandles = new HashSet<IntPtr>();
        foreach (var (_, parameter) in model.named_parameters())
        {
            kept.Add(parameter);
            keptHandles.Add(parameter.Handle);
        }

        foreach (var linear in replaced)
        {
            var parameters = linear.parameters().ToList();
            if (parameters.All(p => !kept.Contains(p) && !keptHandles.Contains(p.Handle)))
            {
                linear.Dispose();
            }
        }
    }

    private static void SetTrainable(Parameter parameter, bool trainable)
    {
        parameter.requires_grad = trainable;
        if (!trainable && parameter.grad is { } grad)
        {
            parameter.grad = null;
            grad.Dispose();
        }
    }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using VectorFit.Surgery;

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
    /// selected layer (<c>d ≥ r</c>, or Top-k on a non-square layer; every such layer is listed); a module in
    /// <see cref="VectorFitConfig.ModulesToSave"/> holds a parameter that cannot train (not floating point or complex); or a weight is
    /// not finite, empty, on the meta device, or has singular values its dtype cannot hold.
    /// The model is unchanged.
    /// </exception>
    /// <exception cref="InvalidOperationException">
    /// The model already holds VectorFit or SVFT layers (surgery never wraps twice); or libtorch failed while the checked
    /// replacements were being written, and they were undone. The model is unchanged.
    /// </exception>
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
        var savedModules = ModulesByName(model, plan.ModulesToSave);
        RejectUntrainable(plan.ModulesToSave, savedModules);
        var baseParameters = CountParameters(model.named_parameters(), _ => true);
        var created = BuildAll(plan.Layers, layer => AdaptedLayers.Create(layer.Linear, layer.Options, config, svdCache), (layer, e) =>
            new ArgumentException($"Surgery changed nothing: cannot adapt '{layer.Name}': {e.Message}", nameof(model), e));

        // Every check is done. From here on only writes happen; should one still fail (libtorch can throw on any
        // call), the replacements and requires_grad flags written so far are put back, so the model is unchanged.
        var flags = new List<(Parameter Parameter, bool RequiresGrad)>();
        foreach (var (_, parameter) in model.named_parameters())
        {
            flags.Add((parameter, parameter.requires_grad));
        }

        var applied = new List<(SlotPlan Slot, nn.Module Old)>();
        try
        {
            for (var i = 0; i < plan.Layers.Count; i++)
            {
                foreach (var slot in plan.Layers[i].Slots)
                {
                    applied.Add((slot, plan.Layers[i].Linear));
                    slot.Apply(created[i]);
                }
            }

            SetTrainability(model, created, savedModules);
        }
        catch (Exception e)
        {
            Undo(applied, flags);
            DisposeAll(created);
            throw new InvalidOperationException($"Surgery failed while replacing the layers and was undone; the model is unchanged: {e.Message}", e);
        }

        ClearFrozenGradients(model);
        var frozenWeightsCount = plan.Layers.Sum(l => l.Linear.in_features * l.Linear.out_features);
        ReleaseReplaced(model, plan.Layers.Select(l => l.Linear));
        NativeHeap.Trim(); // the SVDs' float64 temporaries: returned to the system, not kept by the C allocator

        var infos = plan.Layers.Select((layer, i) => created[i].Describe(layer.Name, layer.Role)).ToList();
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
            saveParameters,
            model,
            created,
            plan.ExcludedFromAllLinear);
    }

    /// <summary>
    /// Merges every <see cref="VectorFitLinear"/> and <see cref="SvftLinear"/> of <paramref name="model"/> back into a plain
    /// <c>Linear</c> (<see cref="SvdAdaptedLinear.ToLinear"/>, <c>W = U·diag(σ)·Vᵀ</c>; <see cref="SvdAdaptedLinear.ToLinear"/>,
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

    /// <summary>
    /// Runs <paramref name="forward"/> once (under <c>no_grad</c>) and checks that it reached every adapted layer of
    /// <paramref name="model"/>. Surgery replaces a layer wherever the model registers it (fields, lists, Sequential,
    /// ModuleList, ModuleDict), but it cannot see other references: a <c>Dictionary</c> or a non-module object holding the
    /// old <c>Linear</c>, a delegate bound to its <c>forward</c>, a captured local. Through those, <c>forward</c> keeps
    /// computing with the old layer and training σ changes nothing. Call this once after <see cref="Apply"/> with a sample
    /// input to rule that out.
    /// </summary>
    /// <param name="model">An adapted model.</param>
    /// <param name="forward">Runs one forward pass of the model, e.g. <c>() =&gt; model.forward(sample).Dispose()</c>.</param>
    /// <exception cref="InvalidOperationException">
    /// The model holds no adapted layer, or the forward pass never called some of them, or it called a replaced (and so
    /// released) Linear through a hidden reference: the message names them and the fix.
    /// </exception>
    public static void VerifyForward(nn.Module model, Action forward)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(forward);
        var layers = AdaptedLayers.Find(model);
        if (AdaptedLayers.IsAdapted(model))
        {
            layers.Insert(0, (string.Empty, (SvdAdaptedLinear)model));
        }

        if (layers.Count == 0)
        {
            throw new InvalidOperationException("The model holds no VectorFitLinear or SvftLinear layer to verify; call ModelSurgery.Apply first.");
        }

        var before = layers.Select(l => CallsOf(l.Layer)).ToList();
        List<string> Missed() => layers.Where((l, i) => CallsOf(l.Layer) == before[i]).Select(l => l.Name.Length == 0 ? "(the root)" : l.Name).ToList();
        try
        {
            using (torch.no_grad())
            using (torch.NewDisposeScope())
            {
                forward();
            }
        }
        catch (InvalidOperationException e) when (e.Message.Contains("invalid -- empty handle", StringComparison.Ordinal))
        {
            // Apply disposes the Linear layers it replaced (unless their weights stay in the model), so a hidden reference
            // to one fails here instead of computing silently with the old weights.
            var notCalled = Missed();
            throw new InvalidOperationException(
                $"The forward pass called a Linear layer that ModelSurgery.Apply replaced and released (TorchSharp: \"{e.Message}\"). " +
                $"Adapted layer(s) not called before it failed: {(notCalled.Count == 0 ? "none" : NameMatch.Sample(notCalled))}. " +
                "Forward reaches the old Linear some other way than through its parent (a Dictionary or other non-module object holding it, a delegate bound to its forward, " +
                "a captured variable). Hold every layer forward uses in a field typed Module<Tensor, Tensor> (or a Sequential, ModuleList or ModuleDict) and call it through that field.",
                e);
        }

        var missed = Missed();
        if (missed.Count > 0)
        {
            throw new InvalidOperationException(
                $"The forward pass never called {missed.Count} of the {layers.Count} adapted layer(s): {NameMatch.Sample(missed)}. Their parents register them, " +
                "but forward reaches the old Linear some other way (a Dictionary or other non-module object holding it, a delegate bound to its forward, " +
                "a captured variable), so training their vectors would change nothing. Hold every layer forward uses in a field typed Module<Tensor, Tensor> " +
                "(or a Sequential, ModuleList or ModuleDict) and call it through that field; or, if forward legitimately skips them for this input, exclude them from the targets.");
        }
    }

    /// <summary>
    /// Every module of type <typeparamref name="TLayer"/> in <paramref name="model"/> with its full name, in <c>named_modules()</c>
    /// order, each layer once (a layer registered under two names keeps its first): <c>FindLayers&lt;VectorFitLinear&gt;(model)</c>,
    /// <c>FindLayers&lt;SvftLinear&gt;(model)</c>, or any other module type.
    /// </summary>
    /// <typeparam name="TLayer">The layer type to find (<see cref="VectorFitLinear"/>, <see cref="SvftLinear"/>, ...).</typeparam>
    /// <param name="model">A model, usually an adapted one.</param>
    /// <returns>The named layers, e.g. to build an <see cref="AvfScheduler"/>.</returns>
    public static IReadOnlyList<(string name, TLayer layer)> FindLayers<TLayer>(nn.Module model)
        where TLayer : nn.Module
    {
        ArgumentNullException.ThrowIfNull(model);
        return ModuleTree.Distinct<TLayer>(ModuleTree.Walk(model));
    }

    /// <summary>
    /// Every adapted layer of <paramref name="model"/> — <see cref="VectorFitLinear"/> and <see cref="SvftLinear"/> alike — with its
    /// full name, in <c>named_modules()</c> order, each layer once.
    /// </summary>
    /// <param name="model">An adapted model.</param>
    /// <returns>The named layers.</returns>
    public static IReadOnlyList<(string name, SvdAdaptedLinear layer)> FindAdaptedLayers(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return AdaptedLayers.Find(model);
    }

    private static long CallsOf(SvdAdaptedLinear layer) => layer.ForwardCalls;

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

    /// <summary>Only floating-point and complex tensors can require gradients: a module to save must hold no other parameter.</summary>
    private static void RejectUntrainable(IReadOnlyList<string> names, IReadOnlyList<nn.Module> modules)
    {
        var offenders = new List<string>();
        for (var i = 0; i < names.Count; i++)
        {
            foreach (var (name, parameter) in modules[i].named_parameters())
            {
                if (!torch.is_floating_point(parameter.dtype) && !torch.is_complex(parameter.dtype))
                {
                    offenders.Add($"'{names[i]}.{name}' ({parameter.dtype})");
                }
            }
        }

        if (offenders.Count > 0)
        {
            throw new ArgumentException(
                $"Surgery changed nothing: ModulesToSave trains every parameter of its modules, but {NameMatch.Sample(offenders)} cannot train: only floating-point " +
                "and complex tensors take gradients. Register such a tensor as a buffer (register_buffer) rather than a Parameter, or leave its module out of ModulesToSave.",
                nameof(modules));
        }
    }

    private static void SetTrainability(nn.Module model, IReadOnlyList<SvdAdaptedLinear> layers, IReadOnlyList<nn.Module> savedModules)
    {
        foreach (var (_, parameter) in model.named_parameters())
        {
            parameter.requires_grad = false;
        }

        foreach (var module in savedModules)
        {
            foreach (var (_, parameter) in module.named_parameters())
            {
                parameter.requires_grad = true;
            }
        }

        foreach (var layer in layers)
        {
            foreach (var (parameter, trainable) in layer.TrainedParameters())
            {
                parameter.requires_grad = trainable;
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

    // Facts 5: requires_grad = false alone is not enough, a leftover gradient keeps momentum optimizers moving.
    // Done only once nothing can fail any more: a cleared gradient cannot be put back.
    private static void ClearFrozenGradients(nn.Module model)
    {
        foreach (var (_, parameter) in model.named_parameters())
        {
            if (!parameter.requires_grad && parameter.grad is { } grad)
            {
                parameter.grad = null;
                grad.Dispose();
            }
        }
    }

    private static void Undo(List<(SlotPlan Slot, nn.Module Old)> applied, List<(Parameter Parameter, bool RequiresGrad)> flags)
    {
        for (var i = applied.Count - 1; i >= 0; i--)
        {
            applied[i].Slot.Apply(applied[i].Old);
        }

        foreach (var (parameter, requiresGrad) in flags)
        {
            if (parameter.requires_grad != requiresGrad)
            {
                parameter.requires_grad = requiresGrad;
            }
        }
    }
}

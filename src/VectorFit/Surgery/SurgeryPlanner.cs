using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace VectorFit.Surgery;

/// <summary>One layer the surgery will adapt: its primary name, the Linear, its role, its options and where it is registered.</summary>
internal sealed record PlannedLayer(string Name, Linear Linear, LayerRole Role, VectorFitLinearOptions Options, IReadOnlyList<SlotPlan> Slots);

/// <summary>The validated plan of a surgery: nothing in the model has been changed yet.</summary>
internal sealed record SurgeryPlan(IReadOnlyList<PlannedLayer> Layers, IReadOnlyList<string> ModulesToSave, IReadOnlyList<string> Unmatched, IReadOnlyList<string> ExcludedFromAllLinear);

/// <summary>Selects the layers to adapt and the modules to train fully, and checks every replacement, without changing anything.</summary>
internal static class SurgeryPlanner
{
    /// <summary>Builds and validates the plan; throws on the first kind of problem found, naming every offender of that kind.</summary>
    public static SurgeryPlan Plan(nn.Module model, VectorFitConfig config)
    {
        var occurrences = ModuleTree.Walk(model);
        RejectAdaptedModel(model, occurrences);

        var linears = ModuleTree.Distinct<Linear>(occurrences);
        var pathsOf = new Dictionary<nn.Module, List<ChildSlot>>(ReferenceEqualityComparer.Instance);
        foreach (var (slot, module) in occurrences)
        {
            if (!pathsOf.TryGetValue(module, out var slots))
            {
                pathsOf[module] = slots = new List<ChildSlot>();
            }

            slots.Add(slot);
        }

        var selected = new HashSet<Linear>(ReferenceEqualityComparer.Instance);
        var unmatched = new List<string>();
        var softUnmatched = new List<string>();
        SelectByPreset(config, linears, pathsOf, selected, unmatched, softUnmatched);
        SelectByNames(config, occurrences, selected, unmatched);
        SelectBy(config.TargetSuffixes, s => $"TargetSuffixes '{s}'", linears, pathsOf, selected, unmatched, (path, s) => NameMatch.HasSuffix(path, s));
        SelectBy(config.CompilePatterns(), r => $"TargetPatterns '{Unwrap(r)}'", linears, pathsOf, selected, unmatched, (path, r) => IsMatch(r, path));
        SelectByPredicate(config, linears, selected, unmatched);
        var excludedHead = SelectAllLinear(model, config, occurrences, linears, pathsOf, selected, unmatched);

        var linearNames = linears.Select(l => l.Name).ToList();
        if (unmatched.Count > 0 && !config.AllowUnmatchedTargets)
        {
            throw new ArgumentException(
                $"{string.Join("; ", unmatched)} matched no Linear layer of the model. Linear layers in the model: {NameMatch.Sample(linearNames)}. " +
                "Fix the selector, or set AllowUnmatchedTargets = true to accept it.",
                nameof(config));
        }

        var layers = new List<PlannedLayer>();
        var skipped = new List<string>();
        foreach (var (name, linear) in linears)
        {
            if (!selected.Contains(linear))
            {
                continue;
            }

            var role = RoleOf(config.Preset, pathsOf[linear]);
            var options = config.Variant.LayerOptions(role, linear.bias is not null, config.AddBias);
            if (options is null)
            {
                skipped.Add($"{name} ({role})");
                continue;
            }

            options = options with { FactorDType = config.FactorDType };

            var slots = pathsOf[linear].Select(slot => ChildReplacer.Plan(slot, linear, config.Method.LayerType)).ToList();
            layers.Add(new PlannedLayer(name, linear, role, options, slots));
        }

        // With AllowUnmatchedTargets and ModulesToSave, selecting no layer is allowed: only those modules train
        // (e.g. full fine-tuning as a baseline, with the encoder and the head as modules to save).
        if (layers.Count == 0 && !(skipped.Count == 0 && config.AllowUnmatchedTargets && config.ModulesToSave.Count > 0))
        {
            throw new ArgumentException(
                skipped.Count == 0
                    ? $"No Linear layer was selected. Linear layers in the model: {NameMatch.Sample(linearNames)}."
                    : $"Variant {config.Variant} trains nothing in the {skipped.Count} selected layers ({NameMatch.Sample(skipped)}): " +
                      "Σa-style variants adapt only attention layers (roles Query, Key, Value, AttentionOutput). Select layers with a TargetPreset that gives them roles, or choose another variant.",
                nameof(config));
        }

        RejectMisfitPattern(config, layers);
        RejectWideFactorDType(config, layers);
        var modulesToSave = ResolveModulesToSave(model, config, occurrences, layers, pathsOf);
        var problems = layers.SelectMany(l => l.Slots).SelectMany(s => s.Problems).ToList();
        if (problems.Count > 0)
        {
            throw new ArgumentException(
                $"Surgery changed nothing: {problems.Count} layer(s) cannot be replaced in their parents.{Environment.NewLine}{string.Join(Environment.NewLine, problems)}",
                nameof(model));
        }

        return new SurgeryPlan(layers, modulesToSave, unmatched.Concat(softUnmatched).ToList(), excludedHead);
    }

    private static void RejectAdaptedModel(nn.Module model, List<(ChildSlot Slot, nn.Module Module)> occurrences)
    {
        var layers = AdaptedLayers.Distinct(occurrences);
        var adapted = layers.Select(l => l.Name).ToList();
        var kinds = layers.Select(l => (nn.Module)l.Layer).ToList();
        if (AdaptedLayers.IsAdapted(model))
        {
            adapted.Insert(0, "(the root)");
            kinds.Add(model);
        }

        if (adapted.Count > 0)
        {
            throw new InvalidOperationException(
                $"The model already holds {adapted.Count} {AdaptedLayers.KindsOf(kinds)} layer(s) ({NameMatch.Sample(adapted)}): surgery was applied already and is never applied twice. " +
                "Train or load an adapter into this model as it is, call ModelSurgery.MergeAndUnload first, or start from a fresh copy of the base model.");
        }
    }

    private static void RejectMisfitPattern(VectorFitConfig config, List<PlannedLayer> layers)
    {
        var misfits = layers
            .Select(l => config.Method.ProblemFor(l.Linear.in_features, l.Linear.out_features) is { } problem ? $"'{l.Name}': {problem}" : null)
            .OfType<string>()
            .ToList();
        if (misfits.Count > 0)
        {
            throw new ArgumentException(
                $"Surgery changed nothing: method {config.Method} does not fit {misfits.Count} of the {layers.Count} selected layer(s).{Environment.NewLine}{string.Join(Environment.NewLine, misfits)}",
                nameof(config));
        }
    }

    private static void RejectWideFactorDType(VectorFitConfig config, List<PlannedLayer> layers)
    {
        if (config.FactorDType is not { } factors)
        {
            return;
        }

        var misfits = layers
            .Select(l => VectorFitLinearOptions.FactorDTypeProblem(factors, l.Linear.weight.dtype) is { } problem ? $"'{l.Name}': {problem}" : null)
            .OfType<string>()
            .ToList();
        if (misfits.Count > 0)
        {
            throw new ArgumentException(
                $"Surgery changed nothing: FactorDType {factors} does not fit {misfits.Count} of the {layers.Count} selected layer(s).{Environment.NewLine}{string.Join(Environment.NewLine, misfits)}",
                nameof(config));
        }
    }

    private static void SelectByPreset(
        VectorFitConfig config, List<(string Name, Linear Module)> linears, Dictionary<nn.Module, List<ChildSlot>> pathsOf,
        HashSet<Linear> selected, List<string> unmatched, List<string> softUnmatched)
    {
        if (config.Preset is not { } preset)
        {
            return;
        }

        var anyMatched = false;
        foreach (var target in preset.Targets)
        {
            var hits = linears.Where(l => pathsOf[l.Module].Any(s => NameMatch.HasSuffix(s.Path, target.Suffix))).ToList();
            anyMatched |= hits.Count > 0;
            foreach (var (_, linear) in hits)
            {
                selected.Add(linear);
            }

            if (hits.Count == 0)
            {
                softUnmatched.Add($"Preset '{preset.Name}' suffix '{target.Suffix}'");
            }
        }

        if (!anyMatched)
        {
            softUnmatched.Clear();
            unmatched.Add($"Preset '{preset.Name}' (suffixes {string.Join(", ", preset.Targets.Select(t => t.Suffix))})");
        }
    }

    private static void SelectByNames(
        VectorFitConfig config, List<(ChildSlot Slot, nn.Module Module)> occurrences, HashSet<Linear> selected, List<string> unmatched)
    {
        foreach (var name in config.TargetNames)
        {
            var hit = occurrences.FirstOrDefault(o => o.Slot.Path == name).Module;
            switch (hit)
            {
                case null:
                    unmatched.Add($"TargetNames '{name}'");
                    break;
                case Linear linear:
                    selected.Add(linear);
                    break;
                default:
                    throw new ArgumentException(
                        $"TargetNames entry '{name}' names a {ChildReplacer.TypeName(hit.GetType())}, not a Linear; only Linear layers can be adapted. Name the Linear inside it (e.g. '{name}.dense').",
                        nameof(config));
            }
        }
    }

    private static void SelectBy<T>(
        IEnumerable<T> selectors, Func<T, string> describe, List<(string Name, Linear Module)> linears,
        Dictionary<nn.Module, List<ChildSlot>> pathsOf, HashSet<Linear> selected, List<string> unmatched, Func<string, T, bool> matches)
    {
        foreach (var selector in selectors)
        {
            var any = false;
            foreach (var (_, linear) in linears)
            {
                if (pathsOf[linear].Any(s => matches(s.Path, selector)))
                {
                    selected.Add(linear);
                    any = true;
                }
            }

            if (!any)
            {
                unmatched.Add(describe(selector));
            }
        }
    }

    private static void SelectByPredicate(VectorFitConfig config, List<(string Name, Linear Module)> linears, HashSet<Linear> selected, List<string> unmatched)
    {
        if (config.TargetPredicate is not { } predicate)
        {
            return;
        }

        var any = false;
        foreach (var (name, linear) in linears)
        {
            if (predicate(name, linear))
            {
                selected.Add(linear);
                any = true;
            }
        }

        if (!any)
        {
            unmatched.Add("TargetPredicate");
        }
    }

    /// <summary>
    /// <see cref="VectorFitConfig.TargetAllLinear"/>: selects every Linear outside the head and returns the names of the Linears
    /// left out as the head (those inside ModulesToSave, or else the Linear registered last depth-first).
    /// </summary>
    private static List<string> SelectAllLinear(
        nn.Module model, VectorFitConfig config, List<(ChildSlot Slot, nn.Module Module)> occurrences, List<(string Name, Linear Module)> linears,
        Dictionary<nn.Module, List<ChildSlot>> pathsOf, HashSet<Linear> selected, List<string> unmatched)
    {
        if (!config.TargetAllLinear)
        {
            return new List<string>();
        }

        var head = new HashSet<Linear>(ReferenceEqualityComparer.Instance);
        if (config.ModulesToSave.Count > 0)
        {
            var saved = occurrences.Select(o => o.Slot.Path).Where(p => config.ModulesToSave.Any(m => NameMatch.HasSuffix(p, m))).ToList();
            foreach (var (_, linear) in linears)
            {
                if (pathsOf[linear].Any(s => saved.Any(m => NameMatch.IsWithin(s.Path, m))))
                {
                    head.Add(linear);
                }
            }
        }
        else if (LastLinearDepthFirst(model) is { } output)
        {
            head.Add(output);
        }

        var any = false;
        foreach (var (_, linear) in linears)
        {
            if (!head.Contains(linear))
            {
                selected.Add(linear);
                any = true;
            }
        }

        if (!any)
        {
            unmatched.Add(linears.Count == 0 ? "TargetAllLinear (the model has no Linear layer)" : "TargetAllLinear (every Linear of the model is in the head)");
        }

        return linears.Where(l => head.Contains(l.Module)).Select(l => l.Name).ToList();
    }

    private static Linear? LastLinearDepthFirst(nn.Module module, int depth = 0)
    {
        if (depth > 256)
        {
            throw new InvalidOperationException("The module tree is more than 256 levels deep: it probably contains a cycle (a module registered inside itself).");
        }

        Linear? last = null;
        foreach (var (_, child) in module.named_children())
        {
            last = child as Linear ?? last;
            last = LastLinearDepthFirst(child, depth + 1) ?? last;
        }

        return last;
    }

    private static LayerRole RoleOf(TargetPreset? preset, List<ChildSlot> slots)
    {
        if (preset is null)
        {
            return LayerRole.Other;
        }

        foreach (var slot in slots)
        {
            if (preset.RoleOf(slot.Path) is { } role)
            {
                return role;
            }
        }

        return LayerRole.Other;
    }

    private static List<string> ResolveModulesToSave(
        nn.Module model, VectorFitConfig config, List<(ChildSlot Slot, nn.Module Module)> occurrences,
        List<PlannedLayer> layers, Dictionary<nn.Module, List<ChildSlot>> pathsOf)
    {
        var matched = new List<string>();
        foreach (var entry in config.ModulesToSave)
        {
            var hits = occurrences.Where(o => NameMatch.HasSuffix(o.Slot.Path, entry)).Select(o => o.Slot.Path).ToList();
            if (hits.Count == 0)
            {
                var top = new List<string>();
                foreach (var (name, _) in model.named_children())
                {
                    top.Add(name);
                }

                throw new ArgumentException(
                    $"ModulesToSave entry '{entry}' matched no module. Top-level modules of the model: {NameMatch.Sample(top)}. Give a full module name or a suffix such as 'classifier'.",
                    nameof(config));
            }

            matched.AddRange(hits);
        }

        var outermost = matched.Distinct(StringComparer.Ordinal)
            .Where(p => !matched.Any(q => q != p && NameMatch.IsWithin(p, q)))
            .ToList();
        foreach (var layer in layers)
        {
            foreach (var slot in pathsOf[layer.Linear])
            {
                var container = outermost.FirstOrDefault(m => NameMatch.IsWithin(slot.Path, m));
                if (container is not null)
                {
                    throw new ArgumentException(
                        $"The adapted layer '{slot.Path}' lies inside '{container}', which ModulesToSave trains fully. A layer is either adapted or trained fully: " +
                        "narrow ModulesToSave (e.g. to the task head), or exclude the layer from the targets.",
                        nameof(config));
                }
            }
        }

        return outermost;
    }

    private static bool IsMatch(Regex regex, string path)
    {
        try
        {
            return regex.IsMatch(path);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new ArgumentException($"TargetPatterns entry '{Unwrap(regex)}' took too long to match '{path}'; simplify the pattern.", nameof(regex), e);
        }
    }

    // CompilePatterns wraps each pattern as ^(?:pattern)$; show the user's own text.
    private static string Unwrap(Regex regex)
    {
        var text = regex.ToString();
        return text.Length >= 6 ? text[4..^2] : text;
    }
}

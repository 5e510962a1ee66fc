using VectorFit.Surgery;

namespace VectorFit;

/// <summary>One entry of a <see cref="TargetPreset"/>: layers whose name ends with <paramref name="Suffix"/> (at a '.' boundary) play <paramref name="Role"/>.</summary>
/// <param name="Suffix">A dotted name suffix such as <c>attention.self.query</c>; a full layer name also works.</param>
/// <param name="Role">The role of the matching layers.</param>
public sealed record RoleTarget(string Suffix, LayerRole Role);

/// <summary>
/// Which linear layers of an architecture are q, k, v, o, f1 and f2, by the module names its Hugging Face
/// checkpoints use. A layer matches an entry when its full name equals the suffix or ends with
/// <c>"." + suffix</c>; when several entries match, the longest suffix wins, so BERT's
/// <c>attention.output.dense</c> (o) is told apart from the layer's <c>output.dense</c> (f2).
/// </summary>
/// <param name="Name">The preset's name, recorded in adapter files (e.g. <c>bert</c>).</param>
/// <param name="Targets">The suffixes and their roles.</param>
public sealed record TargetPreset(string Name, IReadOnlyList<RoleTarget> Targets)
{
    /// <summary>BERT: <c>attention.self.{query,key,value}</c>, <c>attention.output.dense</c>, <c>intermediate.dense</c>, <c>output.dense</c>.</summary>
    public static TargetPreset Bert { get; } = BertLike("bert", "attention.self.query", "attention.self.key", "attention.self.value");

    /// <summary>RoBERTa: the same module names as BERT.</summary>
    public static TargetPreset Roberta { get; } = BertLike("roberta", "attention.self.query", "attention.self.key", "attention.self.value");

    /// <summary>DeBERTa-v2 and DeBERTa-v3: <c>attention.self.{query,key,value}_proj</c>, <c>attention.output.dense</c>, <c>intermediate.dense</c>, <c>output.dense</c>.</summary>
    public static TargetPreset DebertaV2 { get; } = BertLike("deberta-v2", "attention.self.query_proj", "attention.self.key_proj", "attention.self.value_proj");

    /// <summary>ViT (Hugging Face): <c>attention.attention.{query,key,value}</c>, <c>attention.output.dense</c>, <c>intermediate.dense</c>, <c>output.dense</c>.</summary>
    public static TargetPreset Vit { get; } = BertLike("vit", "attention.attention.query", "attention.attention.key", "attention.attention.value");

    /// <summary>BART: self-attention <c>self_attn.{q,k,v,out}_proj</c>, cross-attention <c>encoder_attn.{q,k,v,out}_proj</c>, and <c>fc1</c>, <c>fc2</c>.</summary>
    public static TargetPreset Bart { get; } = new("bart", new RoleTarget[]
    {
        new("self_attn.q_proj", LayerRole.Query), new("self_attn.k_proj", LayerRole.Key),
        new("self_attn.v_proj", LayerRole.Value), new("self_attn.out_proj", LayerRole.AttentionOutput),
        new("encoder_attn.q_proj", LayerRole.Query), new("encoder_attn.k_proj", LayerRole.Key),
        new("encoder_attn.v_proj", LayerRole.Value), new("encoder_attn.out_proj", LayerRole.AttentionOutput),
        new("fc1", LayerRole.FeedForward1), new("fc2", LayerRole.FeedForward2),
    });

    /// <summary>LLaMA-style blocks: <c>self_attn.{q,k,v,o}_proj</c>, <c>mlp.gate_proj</c> and <c>mlp.up_proj</c> (f1), <c>mlp.down_proj</c> (f2).</summary>
    public static TargetPreset Llama { get; } = new("llama", new RoleTarget[]
    {
        new("self_attn.q_proj", LayerRole.Query), new("self_attn.k_proj", LayerRole.Key),
        new("self_attn.v_proj", LayerRole.Value), new("self_attn.o_proj", LayerRole.AttentionOutput),
        new("mlp.gate_proj", LayerRole.FeedForward1), new("mlp.up_proj", LayerRole.FeedForward1),
        new("mlp.down_proj", LayerRole.FeedForward2),
    });

    /// <summary>The built-in presets.</summary>
    public static IReadOnlyList<TargetPreset> BuiltIn { get; } = new[] { Bert, Roberta, DebertaV2, Vit, Bart, Llama };

    /// <summary>The built-in preset called <paramref name="name"/> (case-insensitive; <c>deberta-v3</c> and <c>deberta</c> are <see cref="DebertaV2"/>).</summary>
    /// <param name="name">A preset name such as <c>bert</c>.</param>
    /// <returns>The preset.</returns>
    /// <exception cref="ArgumentException">No built-in preset has that name; the message lists the known names.</exception>
    public static TargetPreset Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (TryGet(name, out var preset))
        {
            return preset;
        }

        throw new ArgumentException(
            $"No target preset called '{name}'. Known presets: {string.Join(", ", BuiltIn.Select(p => p.Name))} (deberta-v3 = deberta-v2); " +
            "for another architecture set VectorFitConfig.TargetSuffixes, TargetNames, TargetPatterns or TargetAllLinear.",
            nameof(name));
    }

    /// <summary>Looks up the built-in preset called <paramref name="name"/> (case-insensitive, as <see cref="Get"/>).</summary>
    /// <param name="name">A preset name such as <c>bert</c>.</param>
    /// <param name="preset">The preset, or <c>null</c> when there is none by that name.</param>
    /// <returns>Whether a preset has that name.</returns>
    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TargetPreset? preset)
    {
        ArgumentNullException.ThrowIfNull(name);
        preset = string.Equals(name, "deberta-v3", StringComparison.OrdinalIgnoreCase) || string.Equals(name, "deberta", StringComparison.OrdinalIgnoreCase)
            ? DebertaV2
            : BuiltIn.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
        return preset is not null;
    }

    /// <summary>The role of the layer called <paramref name="layerName"/>: the role of the longest matching suffix, or <c>null</c> when none matches.</summary>
    /// <param name="layerName">A full module name such as <c>encoder.layer.0.attention.output.dense</c>.</param>
    /// <returns>The role, or <c>null</c>.</returns>
    public LayerRole? RoleOf(string layerName)
    {
        ArgumentNullException.ThrowIfNull(layerName);
        RoleTarget? best = null;
        foreach (var target in Targets)
        {
            if (NameMatch.HasSuffix(layerName, target.Suffix) && (best is null || target.Suffix.Length > best.Suffix.Length))
            {
                best = target;
            }
        }

        return best?.Role;
    }

    /// <summary>Checks the name and every entry; throws naming the offender and the fix.</summary>
    /// <exception cref="ArgumentException">The name is empty, there are no targets, or a suffix is empty, malformed or repeated.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException("A TargetPreset needs a non-empty Name (it is recorded in adapter files).", nameof(Name));
        }

        if (Targets is null || Targets.Count == 0)
        {
            throw new ArgumentException($"TargetPreset '{Name}' has no targets; add RoleTarget entries such as new RoleTarget(\"attention.self.query\", LayerRole.Query).", nameof(Targets));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var target in Targets)
        {
            if (target is null)
            {
                throw new ArgumentException($"TargetPreset '{Name}' has a null target.", nameof(Targets));
            }

            NameMatch.ValidateDottedName(target.Suffix, $"TargetPreset '{Name}' suffix", nameof(Targets));
            if (!Enum.IsDefined(target.Role))
            {
                throw new ArgumentException($"TargetPreset '{Name}' gives suffix '{target.Suffix}' the undefined role {(int)target.Role}; use a LayerRole value.", nameof(Targets));
            }

            if (!seen.Add(target.Suffix))
            {
                throw new ArgumentException($"TargetPreset '{Name}' lists the suffix '{target.Suffix}' twice; give each suffix one role.", nameof(Targets));
            }
        }
    }

    private static TargetPreset BertLike(string name, string query, string key, string value) => new(name, new RoleTarget[]
    {
        new(query, LayerRole.Query), new(key, LayerRole.Key), new(value, LayerRole.Value),
        new("attention.output.dense", LayerRole.AttentionOutput),
        new("intermediate.dense", LayerRole.FeedForward1),
        new("output.dense", LayerRole.FeedForward2),
    });
}

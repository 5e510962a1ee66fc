namespace VectorFit;

/// <summary>
/// The part a linear layer plays in a transformer block, which decides what each ablation variant trains
/// in it (method §2): the attention projections q, k, v, o and the MLP layers f1, f2.
/// </summary>
public enum LayerRole
{
    /// <summary>A layer selected by name, suffix, pattern or predicate rather than by a role preset; variants treat it like f1/f2 (a non-attention weight).</summary>
    Other = 0,

    /// <summary>q: the attention query projection.</summary>
    Query,

    /// <summary>k: the attention key projection.</summary>
    Key,

    /// <summary>v: the attention value projection.</summary>
    Value,

    /// <summary>o: the attention output projection.</summary>
    AttentionOutput,

    /// <summary>f1: the MLP's input projection (BERT <c>intermediate.dense</c>, BART <c>fc1</c>, LLaMA <c>gate_proj</c> and <c>up_proj</c>).</summary>
    FeedForward1,

    /// <summary>f2: the MLP's output projection (BERT layer <c>output.dense</c>, BART <c>fc2</c>, LLaMA <c>down_proj</c>).</summary>
    FeedForward2,
}

/// <summary>Helpers on <see cref="LayerRole"/>.</summary>
public static class LayerRoleExtensions
{
    /// <summary>Whether the role is one of the attention projections q, k, v, o (the "a" of the paper's Σa).</summary>
    /// <param name="role">A role.</param>
    /// <returns><c>true</c> for <see cref="LayerRole.Query"/>, <see cref="LayerRole.Key"/>, <see cref="LayerRole.Value"/> and <see cref="LayerRole.AttentionOutput"/>.</returns>
    public static bool IsAttention(this LayerRole role)
        => role is LayerRole.Query or LayerRole.Key or LayerRole.Value or LayerRole.AttentionOutput;
}

namespace VectorFit.Transformers.Models;

/// <summary>How a classifier turns the encoder's hidden states into one vector for its head (the sample GlueFineTune's <c>--pooling</c>).</summary>
public enum Pooling
{
    /// <summary>The checkpoint's pooler on <c>[CLS]</c> (BERT: <c>tanh(dense(h[:, 0]))</c>; DeBERTa: <c>ContextPooler</c>), trained with the head.</summary>
    Pooler,

    /// <summary>The <c>[CLS]</c> hidden state as it is (no trainable part).</summary>
    Cls,

    /// <summary>The mean of the hidden states over the real tokens (attention mask 1), as sentence-transformers models are trained.</summary>
    Mean,
}

/// <summary>Command-line names and descriptions of <see cref="Pooling"/>.</summary>
public static class PoolingNames
{
    /// <summary>The accepted names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["cls", "pooler", "mean"];

    /// <summary>Parses a name (case-insensitive).</summary>
    /// <param name="name">The name.</param>
    /// <param name="pooling">The pooling, when known.</param>
    /// <returns>Whether the name is known.</returns>
    public static bool TryParse(string name, out Pooling pooling) =>
        Enum.TryParse(name, ignoreCase: true, out pooling) && Enum.IsDefined(pooling) && !int.TryParse(name, out _);

    /// <summary>The command-line name.</summary>
    /// <param name="pooling">A pooling.</param>
    /// <returns>Its name.</returns>
    public static string Name(Pooling pooling) => pooling.ToString().ToLowerInvariant();

    /// <summary>A readable description for the log.</summary>
    /// <param name="pooling">A pooling.</param>
    /// <returns>The description.</returns>
    public static string Describe(Pooling pooling) => pooling switch
    {
        Pooling.Pooler => "pooler (the checkpoint's pooler on [CLS], trained with the head)",
        Pooling.Cls => "cls (the [CLS] hidden state, nothing to train)",
        _ => "mean (mean of the hidden states over the real tokens, nothing to train)",
    };
}

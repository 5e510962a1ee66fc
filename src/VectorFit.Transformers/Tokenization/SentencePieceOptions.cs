namespace VectorFit.Transformers.Tokenization;

/// <summary>Options of a <see cref="SentencePieceTokenizer"/>, with DeBERTa-v3's defaults.</summary>
public sealed record SentencePieceOptions
{
    /// <summary>Lower-case text before encoding (<c>do_lower_case</c>, default <see langword="false"/>).</summary>
    public bool LowerCase { get; init; }

    /// <summary>Names of the special tokens among the model's pieces.</summary>
    public SpecialTokenNames SpecialTokens { get; init; } = SpecialTokenNames.Default;

    /// <summary>Options as a checkpoint's <c>tokenizer_config.json</c> sets them.</summary>
    /// <param name="config">The parsed configuration.</param>
    /// <returns>The options.</returns>
    /// <exception cref="NotSupportedException"><c>split_by_punct</c> is true (not implemented).</exception>
    public static SentencePieceOptions FromConfig(TokenizerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.SplitByPunct == true)
        {
            throw new NotSupportedException(
                $"{TokenizerConfig.FileName} sets \"split_by_punct\": true, which this SentencePiece tokenizer does not "
                + "implement (DeBERTa-v3 checkpoints use false); use a checkpoint with split_by_punct false.");
        }

        return new SentencePieceOptions
        {
            LowerCase = config.DoLowerCase ?? false,
            SpecialTokens = config.SpecialTokens,
        };
    }
}

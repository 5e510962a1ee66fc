namespace VectorFit.Transformers.Tokenization;

/// <summary>Options of a <see cref="WordPieceTokenizer"/>, with BERT's defaults.</summary>
public sealed record WordPieceOptions
{
    /// <summary>Lower-case text before splitting (<c>do_lower_case</c>, default <see langword="true"/>).</summary>
    public bool LowerCase { get; init; } = true;

    /// <summary>Strip accents (<c>strip_accents</c>); <see langword="null"/> strips exactly when lower-casing.</summary>
    public bool? StripAccents { get; init; }

    /// <summary>Split around CJK ideographs (<c>tokenize_chinese_chars</c>, default <see langword="true"/>).</summary>
    public bool TokenizeChineseChars { get; init; } = true;

    /// <summary>Words longer than this many characters become the unknown token (BERT: 100).</summary>
    public int MaxInputCharsPerWord { get; init; } = 100;

    /// <summary>Names of the special tokens in <c>vocab.txt</c>.</summary>
    public SpecialTokenNames SpecialTokens { get; init; } = SpecialTokenNames.Default;

    /// <summary>Options as a checkpoint's <c>tokenizer_config.json</c> sets them.</summary>
    /// <param name="config">The parsed configuration.</param>
    /// <returns>The options.</returns>
    public static WordPieceOptions FromConfig(TokenizerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new WordPieceOptions
        {
            LowerCase = config.DoLowerCase ?? true,
            StripAccents = config.StripAccents,
            TokenizeChineseChars = config.TokenizeChineseChars ?? true,
            SpecialTokens = config.SpecialTokens,
        };
    }
}

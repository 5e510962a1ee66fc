using System.Text.Json;

namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// The options of a Hugging Face <c>tokenizer_config.json</c> that the tokenizers honour. Absent keys are
/// <see langword="null"/>, so each tokenizer applies its own Hugging Face default.
/// </summary>
public sealed record TokenizerConfig
{
    /// <summary>The conventional file name inside a checkpoint folder.</summary>
    public const string FileName = "tokenizer_config.json";

    /// <summary><c>do_lower_case</c>.</summary>
    public bool? DoLowerCase { get; init; }

    /// <summary><c>strip_accents</c> (<see langword="null"/> when absent or JSON null).</summary>
    public bool? StripAccents { get; init; }

    /// <summary><c>tokenize_chinese_chars</c>.</summary>
    public bool? TokenizeChineseChars { get; init; }

    /// <summary><c>split_by_punct</c> (DeBERTa).</summary>
    public bool? SplitByPunct { get; init; }

    /// <summary><c>tokenizer_class</c>, e.g. <c>BertTokenizer</c> or <c>DebertaV2Tokenizer</c>.</summary>
    public string? TokenizerClass { get; init; }

    /// <summary>Special token names, with defaults for those the file does not name.</summary>
    public SpecialTokenNames SpecialTokens { get; init; } = SpecialTokenNames.Default;

    /// <summary>An empty configuration (every option at its default).</summary>
    public static TokenizerConfig Empty { get; } = new();

    /// <summary>Reads <paramref name="path"/>, or returns <see cref="Empty"/> when the file does not exist.</summary>
    /// <param name="path">Path of a <c>tokenizer_config.json</c>.</param>
    /// <returns>The configuration.</returns>
    /// <exception cref="InvalidDataException">The file is not a JSON object or an option has the wrong type.</exception>
    public static TokenizerConfig LoadOrDefault(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return File.Exists(path) ? Parse(File.ReadAllText(path), path) : Empty;
    }

    /// <summary>Parses the JSON text of a <c>tokenizer_config.json</c>.</summary>
    /// <param name="json">The file contents.</param>
    /// <param name="source">File name used in error messages.</param>
    /// <returns>The configuration.</returns>
    public static TokenizerConfig Parse(string json, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({ex.Message}); fix or delete the file.", ex);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{source}: expected a JSON object at the top level, found {root.ValueKind}.");
            }

            SpecialTokenNames defaults = SpecialTokenNames.Default;
            return new TokenizerConfig
            {
                DoLowerCase = ReadBool(root, "do_lower_case", source),
                StripAccents = ReadBool(root, "strip_accents", source),
                TokenizeChineseChars = ReadBool(root, "tokenize_chinese_chars", source),
                SplitByPunct = ReadBool(root, "split_by_punct", source),
                TokenizerClass = ReadToken(root, "tokenizer_class", source),
                SpecialTokens = new SpecialTokenNames(
                    ReadToken(root, "cls_token", source) ?? defaults.Cls,
                    ReadToken(root, "sep_token", source) ?? defaults.Sep,
                    ReadToken(root, "pad_token", source) ?? defaults.Pad,
                    ReadToken(root, "unk_token", source) ?? defaults.Unk,
                    ReadToken(root, "mask_token", source) ?? defaults.Mask),
            };
        }
    }

    private static bool? ReadBool(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out JsonElement value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => null,
            _ => throw new InvalidDataException(
                $"{source}: \"{name}\" must be true, false or null, found {value.GetRawText()}."),
        };
    }

    // Special tokens are either a string or an AddedToken object {"content": "[CLS]", ...}.
    private static string? ReadToken(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            return value.GetString();
        }

        if (value.ValueKind == JsonValueKind.Object
            && value.TryGetProperty("content", out JsonElement content)
            && content.ValueKind == JsonValueKind.String)
        {
            return content.GetString();
        }

        throw new InvalidDataException(
            $"{source}: \"{name}\" must be a string or an object with a \"content\" string, found {value.GetRawText()}.");
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using VectorFit.Transformers.Models;

namespace GlueFineTune.Training;

/// <summary>
/// A checkpoint folder's own pooling, in sentence-transformers' layout (<c>1_Pooling/config.json</c> with
/// <c>pooling_mode_mean_tokens</c> or <c>pooling_mode_cls_token</c>): what a run uses when <c>--pooling</c> is left out.
/// </summary>
internal static class SentenceTransformersPooling
{
    /// <summary>The file, relative to the checkpoint folder.</summary>
    public static readonly string RelativePath = Path.Combine("1_Pooling", "config.json");

    /// <summary>The pooling <paramref name="modelDirectory"/> declares: mean or cls, or <c>null</c> when it declares neither.</summary>
    /// <param name="modelDirectory">The checkpoint folder.</param>
    /// <returns>The pooling, or <c>null</c>.</returns>
    /// <exception cref="InvalidDataException">The file is not a JSON object.</exception>
    public static Pooling? Read(string modelDirectory)
    {
        string path = Path.Combine(modelDirectory, RelativePath);
        if (!File.Exists(path))
        {
            return null;
        }

        JsonObject config;
        try
        {
            config = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }

        return IsSet(config, "pooling_mode_mean_tokens") ? Pooling.Mean : IsSet(config, "pooling_mode_cls_token") ? Pooling.Cls : null;
    }

    /// <summary>Records <paramref name="pooling"/> as <paramref name="modelDirectory"/>'s own (mean or cls; the pooler needs no file).</summary>
    /// <param name="modelDirectory">The checkpoint folder.</param>
    /// <param name="pooling">The pooling.</param>
    /// <param name="hiddenSize">The encoder's hidden size (sentence-transformers' <c>word_embedding_dimension</c>).</param>
    /// <returns>The file written, or <c>null</c> for <see cref="Pooling.Pooler"/>.</returns>
    public static string? Write(string modelDirectory, Pooling pooling, int hiddenSize)
    {
        if (pooling == Pooling.Pooler)
        {
            return null;
        }

        string path = Path.Combine(modelDirectory, RelativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var config = new JsonObject
        {
            ["word_embedding_dimension"] = hiddenSize,
            ["pooling_mode_cls_token"] = pooling == Pooling.Cls,
            ["pooling_mode_mean_tokens"] = pooling == Pooling.Mean,
            ["pooling_mode_max_tokens"] = false,
            ["pooling_mode_mean_sqrt_len_tokens"] = false,
        };
        File.WriteAllText(path, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return path;
    }

    private static bool IsSet(JsonObject config, string key) => config[key] is JsonValue value && value.TryGetValue(out bool set) && set;
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace VectorFit.Adapters;

/// <summary>The JSON stored under the <c>vectorfit</c> metadata key of an adapter file.</summary>
internal sealed class AdapterDocument
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter() },
        WriteIndented = false,
    };

    /// <summary>The recorded configuration and layers.</summary>
    public required AdapterInfo Adapter { get; init; }

    /// <summary>The fingerprint of the base model (frozen tensors), sorted by name.</summary>
    public required List<TensorProbe> BaseModel { get; init; }

    /// <summary>SHA-256 (lowercase hex) of each tensor's bytes, by tensor name.</summary>
    public required Dictionary<string, string> TensorSha256 { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    /// <summary>The SHA-256 (lowercase hex) of a record's UTF-8 text, stored beside it so that damage to the record itself is told apart from a mismatch.</summary>
    public static string Checksum(string json) =>
        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(json))).ToLowerInvariant();

    /// <summary>
    /// What a parsed record lacks (a null section, list or entry the format requires), or <c>null</c> when it is complete.
    /// JSON <c>null</c> satisfies C#'s <c>required</c>, so every reference read later is checked here.
    /// </summary>
    public string? RecordProblem()
    {
        if (Adapter is null)
        {
            return "'adapter' is missing or null";
        }

        if (BaseModel is null)
        {
            return "'base_model' is missing or null";
        }

        if (TensorSha256 is null || TensorSha256.Values.Any(v => v is null))
        {
            return "'tensor_sha256' (or one of its entries) is missing or null";
        }

        if (Adapter.Layers is null || Adapter.Layers.Any(l => l is null || l.Name is null))
        {
            return "'adapter.layers' (or one of its entries or names) is missing or null";
        }

        if (Adapter.ModulesToSave is null || Adapter.ModulesToSave.Any(m => m is null) || Adapter.TensorNames is null || Adapter.TensorNames.Any(n => n is null)
            || Adapter.TargetNames is null || Adapter.TargetSuffixes is null || Adapter.TargetPatterns is null || Adapter.LibraryVersion is null)
        {
            return "a list or name of 'adapter' (modules_to_save, tensor_names, target_names, target_suffixes, target_patterns, library_version) is null";
        }

        return BaseModelFingerprint.RecordProblem(BaseModel);
    }

    /// <summary>The <c>adapter.format_version</c> of a record, if it can be read at all.</summary>
    public static int? TryReadFormatVersion(string json)
    {
        try
        {
            using var parsed = JsonDocument.Parse(json);
            return parsed.RootElement.TryGetProperty("adapter", out var adapter) && adapter.ValueKind == JsonValueKind.Object
                && adapter.TryGetProperty("format_version", out var version) && version.TryGetInt32(out var value)
                ? value
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Parses the JSON; throws <see cref="JsonException"/> or <see cref="NotSupportedException"/> when it is malformed.</summary>
    public static AdapterDocument FromJson(string json)
        => JsonSerializer.Deserialize<AdapterDocument>(json, Options) ?? throw new JsonException("The adapter JSON is null.");
}

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

    /// <summary>Parses the JSON; throws <see cref="JsonException"/> or <see cref="NotSupportedException"/> when it is malformed.</summary>
    public static AdapterDocument FromJson(string json)
        => JsonSerializer.Deserialize<AdapterDocument>(json, Options) ?? throw new JsonException("The adapter JSON is null.");
}

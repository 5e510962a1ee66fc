using System.Text;
using System.Text.Json;
using VectorFit.Serialization;

namespace GlueFineTune.MultiTask;

/// <summary>
/// The class names of an adapter's head, kept beside the adapter file as <c>NAME.labels.json</c> (the adapter format stores
/// tensors, not the task's label names): training writes it, <c>predict</c> reads it to name its predictions.
/// </summary>
internal static class AdapterLabels
{
    /// <summary>The sidecar's path for an adapter file: <c>adapter.safetensors</c> → <c>adapter.labels.json</c>.</summary>
    /// <param name="adapterPath">The adapter file.</param>
    /// <returns>The sidecar's path.</returns>
    public static string PathFor(string adapterPath)
    {
        ArgumentNullException.ThrowIfNull(adapterPath);
        string folder = Path.GetDirectoryName(adapterPath) ?? string.Empty;
        return Path.Combine(folder, Path.GetFileNameWithoutExtension(adapterPath) + ".labels.json");
    }

    /// <summary>Writes the class names beside <paramref name="adapterPath"/> (atomically).</summary>
    /// <param name="adapterPath">The adapter file.</param>
    /// <param name="labels">The class names in class-id order; empty for a regression head.</param>
    public static void Write(string adapterPath, IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        string json = JsonSerializer.Serialize(new Dictionary<string, IReadOnlyList<string>> { ["labels"] = labels });
        AtomicFile.Write(PathFor(adapterPath), s => s.Write(Encoding.UTF8.GetBytes(json + "\n")));
    }

    /// <summary>Reads the class names beside <paramref name="adapterPath"/>, or <c>null</c> when there is no sidecar.</summary>
    /// <param name="adapterPath">The adapter file.</param>
    /// <returns>The class names, or <c>null</c>.</returns>
    /// <exception cref="InvalidDataException">The sidecar exists but is not <c>{"labels": ["…", …]}</c>.</exception>
    public static IReadOnlyList<string>? Read(string adapterPath)
    {
        string path = PathFor(adapterPath);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllText(path, Encoding.UTF8));
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("labels", out JsonElement labels) && labels.ValueKind == JsonValueKind.Array
                && labels.EnumerateArray().All(l => l.ValueKind == JsonValueKind.String))
            {
                return labels.EnumerateArray().Select(l => l.GetString()!).ToList();
            }
        }
        catch (JsonException)
        {
            // reported below
        }

        throw new InvalidDataException($"{path} is not {{\"labels\": [\"…\", …]}} (the class names of {adapterPath}); delete it to predict class numbers, or write the names in class-id order.");
    }
}

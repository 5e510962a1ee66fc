using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Serialization;

/// <summary>
/// Writes tensors to a safetensors file: an 8-byte little-endian header length, a space-padded UTF-8 JSON
/// header (with an optional <c>__metadata__</c> string map), then each tensor's bytes in the given order.
/// </summary>
/// <remarks>
/// The write is atomic (a temporary file in the same folder, flushed, then moved over the target). Tensors on
/// any device and of any layout are accepted: each is copied to the CPU and made contiguous one at a time
/// while writing, so only one tensor's host copy exists at once. Supported dtypes: <see cref="SafetensorsDType.Supported"/>.
/// </remarks>
public static class SafetensorsWriter
{

    /// <summary>Writes <paramref name="tensors"/> (in order) and <paramref name="metadata"/> to <paramref name="path"/>, atomically.</summary>
    /// <param name="path">The file to create or replace; its folder must exist.</param>
    /// <param name="tensors">Name and tensor pairs; names must be unique, non-empty and not <c>__metadata__</c>.</param>
    /// <param name="metadata">String pairs for the header's <c>__metadata__</c>; <c>null</c> for none.</param>
    /// <exception cref="ArgumentException">
    /// A name is empty, repeated or reserved, a name or metadata string holds a lone surrogate (not storable in UTF-8), a
    /// tensor is null, disposed or on the meta device (no values), a dtype is not supported, or the header would exceed 100 MB (which readers refuse).
    /// Nothing is written.
    /// </exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        SafetensorsReader.RequireLittleEndian();
        var entries = Validate(tensors, metadata);
        var header = BuildHeader(entries, metadata);

        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var (_, tensor, _) in entries)
            {
                WriteBytes(tensor, stream);
            }
        });
    }

    /// <summary>Copies the raw bytes of <paramref name="tensor"/> (any device, any layout) into <paramref name="stream"/>.</summary>
    internal static void WriteBytes(Tensor tensor, Stream stream) => TensorHash.WriteBytes(tensor, stream);

    /// <summary>The SHA-256 (lowercase hex) of the raw bytes of <paramref name="tensor"/>, as the file holds them.</summary>
    internal static string Sha256(Tensor tensor) => TensorHash.Sha256(tensor);

    private static List<(string Name, Tensor Tensor, string DType)> Validate(
        IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var entries = new List<(string, Tensor, string)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            if (string.IsNullOrEmpty(name) || name == SafetensorsHeader.MetadataKey)
            {
                throw new ArgumentException($"Tensor names must be non-empty and not '{SafetensorsHeader.MetadataKey}', got '{name}'.", nameof(tensors));
            }

            RejectLoneSurrogate(name, "The tensor name", nameof(tensors));
            if (!names.Add(name))
            {
                throw new ArgumentException($"The tensor name '{name}' appears twice; names in a safetensors file are unique.", nameof(tensors));
            }

            if (tensor is null || tensor.IsInvalid)
            {
                throw new ArgumentException($"Tensor '{name}' is null or disposed.", nameof(tensors));
            }

            if (tensor.device_type == DeviceType.META)
            {
                throw new ArgumentException(
                    $"Tensor '{name}' is on the meta device: it has a shape but no values to write. Nothing was written; load or compute its values first, or leave it out.",
                    nameof(tensors));
            }

            entries.Add((name, tensor, SafetensorsDType.FromScalarType(tensor.dtype)));
        }

        if (metadata is not null)
        {
            foreach (var (key, value) in metadata)
            {
                if (key is null || value is null)
                {
                    throw new ArgumentException("Metadata keys and values must not be null.", nameof(metadata));
                }

                RejectLoneSurrogate(key, "The metadata key", nameof(metadata));
                RejectLoneSurrogate(value, $"The value of metadata key '{key}'", nameof(metadata));
            }
        }

        return entries;
    }

    private static byte[] BuildHeader(List<(string Name, Tensor Tensor, string DType)> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            long offset = 0;
            foreach (var (name, tensor, dtype) in entries)
            {
                var length = checked(tensor.numel() * SafetensorsDType.ElementSize(dtype)!.Value);
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype);
                json.WriteStartArray("shape");
                foreach (var d in tensor.shape)
                {
                    json.WriteNumberValue(d);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += length;
            }

            json.WriteEndObject();
        }

        // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
        var padding = (int)((8 - ((buffer.Length + 8) % 8)) % 8);
        for (var i = 0; i < padding; i++)
        {
            buffer.WriteByte((byte)' ');
        }

        if (buffer.Length > SafetensorsHeader.MaxHeaderLength)
        {
            throw new ArgumentException(
                $"The header (tensor names, shapes and metadata) would be {buffer.Length:N0} bytes, over the {SafetensorsHeader.MaxHeaderLength:N0} that safetensors readers " +
                "(this library's included) accept, so the file could never be read back. Nothing was written; store less metadata, or fewer tensors per file.",
                nameof(metadata));
        }

        return buffer.ToArray();
    }

    // UTF-8 cannot encode a lone UTF-16 surrogate: JSON writers would silently put U+FFFD in its place, so the name read
    // back would not be the name written.
    private static void RejectLoneSurrogate(string text, string what, string paramName)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                throw new ArgumentException(
                    $"{what} holds a lone UTF-16 surrogate (U+{(int)text[i]:X4} at index {i}), which UTF-8 cannot store: it would be read back as U+FFFD. " +
                    "Nothing was written; fix the string.",
                    paramName);
            }
        }
    }
}

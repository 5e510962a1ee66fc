using System.Text;
using System.Text.Json;

namespace VectorFit.Serialization;

/// <summary>Parses and checks a safetensors header: every rule of the format, with messages that name the file.</summary>
/// <remarks>
/// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON (space-padded), then the data
/// section. The JSON maps each tensor name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c>
/// (offsets relative to the data section) plus an optional <c>"__metadata__"</c> string-to-string map. The
/// tensors must tile the data section exactly: no gaps, no overlaps, nothing after the last one.
/// </remarks>
internal static class SafetensorsHeader
{
    /// <summary>The key of the metadata map in the header.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>The largest header accepted (the format's own limit, 100 MB).</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>Reads and checks the header of <paramref name="stream"/>, positioned at its start.</summary>
    /// <returns>The tensors in header order, the metadata and the absolute offset of the data section.</returns>
    public static (List<SafetensorsTensorInfo> Tensors, Dictionary<string, string> Metadata, long DataStart) Read(Stream stream, string path)
    {
        var fileLength = stream.Length;
        if (fileLength < 8)
        {
            throw Error(path, $"the file is {fileLength} bytes long, shorter than the 8-byte header length: it is truncated or not a safetensors file");
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        var headerLength = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength < 2 || headerLength > MaxHeaderLength)
        {
            throw Error(path, $"the header length is {headerLength} bytes, outside 2 to {MaxHeaderLength}: the file is corrupt or not a safetensors file");
        }

        if ((long)headerLength > fileLength - 8)
        {
            throw Error(path, $"the header claims {headerLength} bytes but only {fileLength - 8} follow the length field: the file is truncated");
        }

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var dataStart = 8 + (long)headerLength;
        var (tensors, metadata) = Parse(headerBytes, path);
        CheckTiling(tensors, fileLength - dataStart, path);
        return (tensors, metadata, dataStart);
    }

    private static (List<SafetensorsTensorInfo>, Dictionary<string, string>) Parse(byte[] headerBytes, string path)
    {
        JsonDocument document;
        try
        {
            var text = new UTF8Encoding(false, true).GetString(headerBytes);
            document = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            throw new SafetensorsFormatException($"'{path}' is not a valid safetensors file: its header is not valid UTF-8 JSON ({e.Message}).", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Error(path, $"the header is a JSON {document.RootElement.ValueKind}, not an object");
            }

            var tensors = new List<SafetensorsTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw Error(path, $"the header lists '{property.Name}' twice");
                }

                if (property.Name == MetadataKey)
                {
                    ParseMetadata(property.Value, metadata, path);
                }
                else
                {
                    tensors.Add(ParseTensor(property.Name, property.Value, path));
                }
            }

            return (tensors, metadata);
        }
    }

    private static void ParseMetadata(JsonElement element, Dictionary<string, string> metadata, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Error(path, $"'{MetadataKey}' must be an object of strings, got a JSON {element.ValueKind}");
        }

        foreach (var entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw Error(path, $"metadata entry '{entry.Name}' must be a string, got a JSON {entry.Value.ValueKind}");
            }

            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
            {
                throw Error(path, $"metadata entry '{entry.Name}' appears twice");
            }
        }
    }

    private static SafetensorsTensorInfo ParseTensor(string name, JsonElement element, string path)
    {
        if (name.Length == 0)
        {
            throw Error(path, "a tensor has an empty name");
        }

        if (element.ValueKind != JsonValueKind.Object
            || !element.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !element.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !element.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array)
        {
            throw Error(path, $"tensor '{name}' must be an object with a string \"dtype\", an array \"shape\" and an array \"data_offsets\"");
        }

        var dtype = dtypeElement.GetString()!;
        var elementSize = SafetensorsDType.ElementSize(dtype)
            ?? throw Error(path, $"tensor '{name}' has the unknown dtype '{dtype}'");
        var shape = shapeElement.EnumerateArray().Select(d => ReadNonNegative(d, name, "shape", path)).ToArray();
        var offsets = offsetsElement.EnumerateArray().Select(d => ReadNonNegative(d, name, "data_offsets", path)).ToArray();
        if (offsets.Length != 2 || offsets[0] > offsets[1])
        {
            throw Error(path, $"tensor '{name}' must have data_offsets [begin, end] with begin <= end, got [{string.Join(", ", offsets)}]");
        }

        long expected;
        try
        {
            expected = checked(shape.Aggregate(1L, (a, d) => a * d) * elementSize);
            // libtorch multiplies the dimensions into strides even when another one is 0 ([0, 2^40, 2^40] holds nothing, but its
            // first stride is 2^80): the nonzero dimensions must multiply to an int64 as well, or creating the tensor fails natively.
            _ = checked(shape.Where(d => d != 0).Aggregate(1L, (a, d) => a * d) * elementSize);
        }
        catch (OverflowException e)
        {
            throw new SafetensorsFormatException(
                $"'{path}' is not a valid safetensors file: the shape [{string.Join(", ", shape)}] of tensor '{name}' overflows (its nonzero dimensions multiply to more than 2^63 bytes).", e);
        }

        if (offsets[1] - offsets[0] != expected)
        {
            throw Error(path, $"tensor '{name}' ({dtype} [{string.Join(", ", shape)}]) needs {expected} bytes but its data_offsets [{offsets[0]}, {offsets[1]}] span {offsets[1] - offsets[0]}");
        }

        return new SafetensorsTensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long ReadNonNegative(JsonElement element, string name, string field, string path)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out var value) || value < 0)
        {
            throw Error(path, $"tensor '{name}' has a {field} entry that is not a non-negative integer: {element.GetRawText()}");
        }

        return value;
    }

    private static void CheckTiling(List<SafetensorsTensorInfo> tensors, long dataLength, string path)
    {
        long position = 0;
        foreach (var tensor in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (tensor.Begin != position)
            {
                throw Error(path, tensor.Begin < position
                    ? $"tensor '{tensor.Name}' overlaps the tensor before it (it starts at byte {tensor.Begin}, before {position})"
                    : $"there is a gap of {tensor.Begin - position} bytes before tensor '{tensor.Name}' (byte {position} to {tensor.Begin})");
            }

            position = tensor.End;
        }

        if (position > dataLength)
        {
            throw Error(path, $"the tensors need {position} bytes of data but the file holds {dataLength} after the header: the file is truncated");
        }

        if (position < dataLength)
        {
            throw Error(path, $"the file has {dataLength - position} bytes after the last tensor: it is corrupt, or was appended to");
        }
    }

    private static SafetensorsFormatException Error(string path, string problem)
        => new($"'{path}' is not a valid safetensors file: {problem}.");
}

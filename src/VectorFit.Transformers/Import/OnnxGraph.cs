using System.Buffers.Binary;
using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Import;

/// <summary>ONNX <c>TensorProto.DataType</c> values this reader knows.</summary>
internal enum OnnxDataType
{
    /// <summary>Not set.</summary>
    Undefined = 0,

    /// <summary>float32.</summary>
    Float = 1,

    /// <summary>uint8.</summary>
    UInt8 = 2,

    /// <summary>int8.</summary>
    Int8 = 3,

    /// <summary>int32.</summary>
    Int32 = 6,

    /// <summary>int64.</summary>
    Int64 = 7,

    /// <summary>bool.</summary>
    Bool = 9,

    /// <summary>float16.</summary>
    Float16 = 10,

    /// <summary>float64.</summary>
    Double = 11,

    /// <summary>bfloat16.</summary>
    BFloat16 = 16,
}

/// <summary>One tensor of an ONNX graph (an initializer or a <c>Constant</c> node's value).</summary>
internal sealed class OnnxTensor
{
    private readonly byte[] source;
    private readonly int rawOffset;
    private readonly int rawLength;
    private readonly float[]? floatData;
    private readonly long[]? int64Data;

    /// <summary>Creates a tensor over raw little-endian bytes or typed data.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="dims">Its shape.</param>
    /// <param name="dataType">Its element type.</param>
    /// <param name="source">The file's bytes (for raw data).</param>
    /// <param name="rawOffset">Offset of <c>raw_data</c> in <paramref name="source"/>.</param>
    /// <param name="rawLength">Length of <c>raw_data</c> (-1 when the tensor uses typed fields).</param>
    /// <param name="floatData"><c>float_data</c>, if used.</param>
    /// <param name="int64Data"><c>int64_data</c>, if used.</param>
    public OnnxTensor(string name, long[] dims, OnnxDataType dataType, byte[] source, int rawOffset, int rawLength, float[]? floatData, long[]? int64Data)
    {
        Name = name;
        Dims = dims;
        DataType = dataType;
        this.source = source;
        this.rawOffset = rawOffset;
        this.rawLength = rawLength;
        this.floatData = floatData;
        this.int64Data = int64Data;
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>The tensor's shape.</summary>
    public long[] Dims { get; }

    /// <summary>The element type.</summary>
    public OnnxDataType DataType { get; }

    /// <summary>Number of elements.</summary>
    public long ElementCount => Dims.Aggregate(1L, (a, b) => a * b);

    /// <summary>The values as float32 (float, float16, bfloat16 and float64 tensors).</summary>
    /// <returns>The values in row-major order.</returns>
    /// <exception cref="InvalidDataException">The tensor is not a floating-point tensor or its data size is wrong.</exception>
    public float[] ToFloats()
    {
        long count = ElementCount;
        if (floatData is not null)
        {
            return floatData.Length == count ? floatData : throw SizeError(floatData.Length);
        }

        if (rawLength < 0)
        {
            throw new InvalidDataException($"ONNX tensor {Name} ({DataType}) holds no float data.");
        }

        ReadOnlySpan<byte> raw = source.AsSpan(rawOffset, rawLength);
        int width = DataType switch
        {
            OnnxDataType.Float => 4,
            OnnxDataType.Float16 or OnnxDataType.BFloat16 => 2,
            OnnxDataType.Double => 8,
            _ => throw new InvalidDataException($"ONNX tensor {Name} has data type {DataType}, not a floating-point type."),
        };
        if (raw.Length != count * width)
        {
            throw SizeError(raw.Length / width);
        }

        var values = new float[count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = DataType switch
            {
                OnnxDataType.Float => BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]),
                OnnxDataType.Float16 => (float)BinaryPrimitives.ReadHalfLittleEndian(raw[(i * 2)..]),
                OnnxDataType.BFloat16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]) << 16),
                _ => (float)BinaryPrimitives.ReadDoubleLittleEndian(raw[(i * 8)..]),
            };
        }

        return values;
    }

    /// <summary>The values as int64 (int64 and int32 tensors).</summary>
    /// <returns>The values in row-major order.</returns>
    /// <exception cref="InvalidDataException">The tensor is not an integer tensor or its data size is wrong.</exception>
    public long[] ToInt64s()
    {
        long count = ElementCount;
        if (int64Data is not null)
        {
            return int64Data.Length == count ? int64Data : throw SizeError(int64Data.Length);
        }

        if (rawLength < 0 || DataType is not (OnnxDataType.Int64 or OnnxDataType.Int32))
        {
            throw new InvalidDataException($"ONNX tensor {Name} ({DataType}) holds no integer data.");
        }

        int width = DataType == OnnxDataType.Int64 ? 8 : 4;
        ReadOnlySpan<byte> raw = source.AsSpan(rawOffset, rawLength);
        if (raw.Length != count * width)
        {
            throw SizeError(raw.Length / width);
        }

        var values = new long[count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = width == 8 ? BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]) : BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]);
        }

        return values;
    }

    private InvalidDataException SizeError(long actual) =>
        new($"ONNX tensor {Name} has shape [{string.Join(", ", Dims)}] ({ElementCount} elements) but holds {actual}; the file is damaged.");
}

/// <summary>One attribute of an ONNX node (the kinds this importer reads).</summary>
/// <param name="Name">The attribute's name.</param>
/// <param name="Float">Its float value, if any.</param>
/// <param name="Int">Its integer value, if any.</param>
/// <param name="Tensor">Its tensor value (a <c>Constant</c> node's <c>value</c>), if any.</param>
internal sealed record OnnxAttribute(string Name, float? Float, long? Int, OnnxTensor? Tensor);

/// <summary>One node of an ONNX graph.</summary>
/// <param name="Name">The node's name (may be empty).</param>
/// <param name="OpType">The operator, e.g. <c>MatMul</c>.</param>
/// <param name="Inputs">Input value names (an empty name is an omitted optional input).</param>
/// <param name="Outputs">Output value names.</param>
/// <param name="Attributes">The attributes.</param>
internal sealed record OnnxNode(string Name, string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyList<OnnxAttribute> Attributes)
{
    /// <summary>The attribute named <paramref name="name"/>, or <c>null</c>.</summary>
    /// <param name="name">The attribute's name.</param>
    /// <returns>The attribute.</returns>
    public OnnxAttribute? Attribute(string name) => Attributes.FirstOrDefault(a => a.Name == name);
}

/// <summary>
/// The parts of an ONNX model (<c>ModelProto</c>) an importer needs: the graph's nodes, initializers, inputs
/// and outputs, read with the sample's minimal protobuf reader. Tensors stored in external files are refused.
/// </summary>
public sealed class OnnxGraph
{
    private const string FileKind = "an ONNX model";

    private OnnxGraph(string source, IReadOnlyList<OnnxNode> nodes, IReadOnlyDictionary<string, OnnxTensor> initializers, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs)
    {
        Source = source;
        Nodes = nodes;
        Initializers = initializers;
        Inputs = inputs;
        Outputs = outputs;
    }

    /// <summary>Where the model came from, for messages.</summary>
    public string Source { get; }

    /// <summary>The nodes in file order.</summary>
    internal IReadOnlyList<OnnxNode> Nodes { get; }

    /// <summary>The initializers by name.</summary>
    internal IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }

    /// <summary>The graph's input names (initializers excluded).</summary>
    internal IReadOnlyList<string> Inputs { get; }

    /// <summary>The graph's output names.</summary>
    internal IReadOnlyList<string> Outputs { get; }

    /// <summary>Reads an ONNX file.</summary>
    /// <param name="path">The .onnx file.</param>
    /// <returns>The graph.</returns>
    public static OnnxGraph Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"the ONNX file {path} does not exist.", path);
        }

        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses a serialized <c>ModelProto</c>.</summary>
    /// <param name="bytes">The model's bytes (kept: initializers point into them).</param>
    /// <param name="source">Where the bytes came from, for messages.</param>
    /// <returns>The graph.</returns>
    /// <exception cref="InvalidDataException">The bytes are not an ONNX model or hold no graph.</exception>
    public static OnnxGraph Parse(byte[] bytes, string source)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var reader = new ProtobufReader(bytes, source, 0, FileKind);
        var nodes = new List<OnnxNode>();
        var initializers = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        var inputs = new List<string>();
        var outputs = new List<string>();
        bool sawGraph = false;
        while (reader.TryReadTag(out int field, out ProtobufWireType wire))
        {
            if (field == 7 && wire == ProtobufWireType.LengthDelimited)
            {
                sawGraph = true;
                ReadGraph(reader.ReadMessage("graph"), bytes, nodes, initializers, inputs, outputs);
            }
            else
            {
                reader.SkipField(wire);
            }
        }

        if (!sawGraph || nodes.Count == 0)
        {
            throw new InvalidDataException($"{source} holds no ONNX graph (no nodes); it is not an ONNX model, or an empty one.");
        }

        return new OnnxGraph(source, nodes, initializers, inputs.Where(i => !initializers.ContainsKey(i)).ToList(), outputs);
    }

    /// <summary>The nodes that read <paramref name="value"/>.</summary>
    /// <param name="value">A value name.</param>
    /// <returns>The consumers in file order.</returns>
    internal IEnumerable<OnnxNode> Consumers(string value) => Nodes.Where(n => n.Inputs.Contains(value));

    /// <summary>The node that writes <paramref name="value"/>, or <c>null</c> (graph inputs and initializers).</summary>
    /// <param name="value">A value name.</param>
    /// <returns>The producer.</returns>
    internal OnnxNode? Producer(string value) => Nodes.FirstOrDefault(n => n.Outputs.Contains(value));

    /// <summary>The constant tensor behind <paramref name="value"/>: an initializer or a <c>Constant</c> node's value.</summary>
    /// <param name="value">A value name.</param>
    /// <returns>The tensor, or <c>null</c> when the value is computed.</returns>
    internal OnnxTensor? Constant(string value)
    {
        if (Initializers.TryGetValue(value, out OnnxTensor? tensor))
        {
            return tensor;
        }

        OnnxNode? producer = Producer(value);
        return producer is { OpType: "Constant" } ? producer.Attribute("value")?.Tensor : null;
    }

    private static void ReadGraph(ProtobufReader reader, byte[] bytes, List<OnnxNode> nodes, Dictionary<string, OnnxTensor> initializers, List<string> inputs, List<string> outputs)
    {
        while (reader.TryReadTag(out int field, out ProtobufWireType wire))
        {
            switch (field)
            {
                case 1 when wire == ProtobufWireType.LengthDelimited:
                    nodes.Add(ReadNode(reader.ReadMessage("node"), bytes));
                    break;
                case 5 when wire == ProtobufWireType.LengthDelimited:
                    OnnxTensor tensor = ReadTensor(reader.ReadMessage("initializer"), bytes);
                    initializers[tensor.Name] = tensor;
                    break;
                case 11 when wire == ProtobufWireType.LengthDelimited:
                    inputs.Add(ReadValueInfoName(reader.ReadMessage("input")));
                    break;
                case 12 when wire == ProtobufWireType.LengthDelimited:
                    outputs.Add(ReadValueInfoName(reader.ReadMessage("output")));
                    break;
                default:
                    reader.SkipField(wire);
                    break;
            }
        }
    }

    private static string ReadValueInfoName(ProtobufReader reader)
    {
        string name = string.Empty;
        while (reader.TryReadTag(out int field, out ProtobufWireType wire))
        {
            if (field == 1 && wire == ProtobufWireType.LengthDelimited)
            {
                name = reader.ReadString();
            }
            else
            {
                reader.SkipField(wire);
            }
        }

        return name;
    }

    private static OnnxNode ReadNode(ProtobufReader reader, byte[] bytes)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var attributes = new List<OnnxAttribute>();
        string name = string.Empty, op = string.Empty;
        while (reader.TryReadTag(out int field, out ProtobufWireType wire))
        {
            switch (field)
            {
                case 1 when wire == ProtobufWireType.LengthDelimited:
                    inputs.Add(reader.ReadString());
                    break;
                case 2 when wire == ProtobufWireType.LengthDelimited:
                    outputs.Add(reader.ReadString());
                    break;
                case 3 when wire == ProtobufWireType.LengthDelimited:
                    name = reader.ReadString();
                    break;
                case 4 when wire == ProtobufWireType.LengthDelimited:
                    op = reader.ReadString();
                    break;
                case 5 when wire == ProtobufWireType.LengthDelimited:
                    attributes.Add(ReadAttribute(reader.ReadMessage("attribute"), bytes));
                    break;
                default:
                    reader.SkipField(wire);
                    break;
            }
        }

        return new OnnxNode(name, op, inputs, outputs, attributes);
    }

    private static OnnxAttribute ReadAttribute(ProtobufReader reader, byte[] bytes)
    {
        string name = string.Empty;
        float? f = null;
        long? i = null;
        OnnxTensor? t = null;
        while (reader.TryReadTag(out int field, out ProtobufWireType wire))
        {
            switch (field)
            {
                case 1 when wire == ProtobufWireType.LengthDelimited:
                    name = reader.ReadString();
                    break;
                case 2 when wire == ProtobufWireType.Fixed32:
                    f = reader.ReadFloat();
                    break;
                case 3 when wire == ProtobufWireType.Varint:
                    i = (long)reader.ReadVarint();
                    break;
                case 5 when wire == ProtobufWireType.LengthDelimited:
                    t = ReadTensor(reader.ReadMessage("tensor"), bytes);
                    break;
                default:
                    reader.SkipField(wire);
                    break;
            }
        }

        return new OnnxAttribute(name, f, i, t);
    }

    private static OnnxTensor ReadTensor(ProtobufReader reader, byte[] bytes)
    {
        var dims = new List<long>();
        var floats = new List<float>();
        var int64s = new List<long>();
        string name = string.Empty;
        int dataType = 0, rawOffset = 0, rawLength = -1;
        bool external = false;
        while (reader.TryReadTag(out int field, out ProtobufWireType wire))
        {
            switch (field)
            {
                case 1:
                    ReadRepeatedVarint(ref reader, wire, dims);
                    break;
                case 2 when wire == ProtobufWireType.Varint:
                    dataType = (int)reader.ReadVarint();
                    break;
                case 4 when wire == ProtobufWireType.LengthDelimited:
                    var packed = new ProtobufReader(reader.ReadLengthDelimited(), "float_data", 0, FileKind);
                    while (!packed.IsAtEnd)
                    {
                        floats.Add(packed.ReadFloat());
                    }

                    break;
                case 4 when wire == ProtobufWireType.Fixed32:
                    floats.Add(reader.ReadFloat());
                    break;
                case 7:
                    ReadRepeatedVarint(ref reader, wire, int64s);
                    break;
                case 8 when wire == ProtobufWireType.LengthDelimited:
                    name = reader.ReadString();
                    break;
                case 9 when wire == ProtobufWireType.LengthDelimited:
                    ReadOnlySpan<byte> raw = reader.ReadLengthDelimited();
                    rawLength = raw.Length;
                    rawOffset = reader.FileOffset - raw.Length;
                    break;
                case 14 when wire == ProtobufWireType.Varint:
                    external |= reader.ReadVarint() == 1;
                    break;
                default:
                    reader.SkipField(wire);
                    break;
            }
        }

        if (external)
        {
            throw new InvalidDataException($"ONNX tensor {name} is stored in an external data file, which this importer does not read; export the model with its weights inside the .onnx file (torch.onnx.export without external data, or onnx.save_model(..., save_as_external_data=False)).");
        }

        return new OnnxTensor(
            name,
            dims.ToArray(),
            (OnnxDataType)dataType,
            bytes,
            rawOffset,
            rawLength,
            floats.Count > 0 ? floats.ToArray() : null,
            int64s.Count > 0 ? int64s.ToArray() : null);
    }

    private static void ReadRepeatedVarint(ref ProtobufReader reader, ProtobufWireType wire, List<long> values)
    {
        if (wire == ProtobufWireType.LengthDelimited)
        {
            var packed = new ProtobufReader(reader.ReadLengthDelimited(), "packed", 0, FileKind);
            while (!packed.IsAtEnd)
            {
                values.Add((long)packed.ReadVarint());
            }
        }
        else
        {
            reader.Expect("repeated int64", wire, ProtobufWireType.Varint);
            values.Add((long)reader.ReadVarint());
        }
    }
}

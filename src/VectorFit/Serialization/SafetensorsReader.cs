using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Serialization;

/// <summary>
/// Reads a safetensors file (the format of Hugging Face checkpoints and of VectorFit adapters) one tensor
/// at a time: <see cref="Open"/> reads and checks only the header; <see cref="ReadTensor"/> seeks to one
/// tensor and streams its bytes from the file straight into a new tensor, so a checkpoint of several
/// hundred MB is never held in managed memory.
/// </summary>
/// <remarks>
/// Supported dtypes: BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64 (<see cref="SafetensorsDType"/>).
/// Tensors with other dtypes (U16, U32, U64, F8_*) are listed but cannot be read. The header is checked in
/// full on opening (JSON, dtypes, shapes against byte ranges, tensors tiling the data section exactly, file
/// length), so a truncated or corrupt file fails there with a <see cref="SafetensorsFormatException"/>.
/// Not thread-safe: read from one thread at a time.
/// </remarks>
public sealed class SafetensorsReader : IDisposable
{
    private const int CopyBufferSize = 1 << 20;
    private readonly FileStream _stream;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    private readonly long _dataStart;

    private SafetensorsReader(string path, FileStream stream)
    {
        Path = path;
        _stream = stream;
        var (tensors, metadata, dataStart) = SafetensorsHeader.Read(stream, path);
        Tensors = tensors;
        Metadata = metadata;
        _dataStart = dataStart;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The file being read.</summary>
    public string Path { get; }

    /// <summary>The header's <c>__metadata__</c> map (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor in the file, in header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>Opens <paramref name="path"/> and reads and checks its header; no tensor data is read.</summary>
    /// <param name="path">A <c>.safetensors</c> file.</param>
    /// <returns>A reader that holds the file open until disposed.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty, or a directory.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="SafetensorsFormatException">The file is truncated, corrupt or not a safetensors file.</exception>
    /// <exception cref="PlatformNotSupportedException">The machine is big-endian (the format is little-endian).</exception>
    public static SafetensorsReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        RequireLittleEndian();
        if (Directory.Exists(path))
        {
            throw new ArgumentException($"'{path}' is a directory; pass a safetensors file (e.g. one of the *.safetensors files inside it).", nameof(path));
        }

        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.RandomAccess);
        try
        {
            return new SafetensorsReader(path, stream);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads every tensor of <paramref name="path"/> (fine for adapters; for large checkpoints prefer <see cref="Open"/> and <see cref="ReadTensor"/>).</summary>
    /// <param name="path">A <c>.safetensors</c> file.</param>
    /// <param name="device">Where to put the tensors; <c>null</c> for the CPU.</param>
    /// <returns>The tensors by name, in header order; the caller owns them.</returns>
    /// <exception cref="SafetensorsFormatException">The file is truncated, corrupt or not a safetensors file.</exception>
    /// <exception cref="NotSupportedException">A tensor's dtype has no TorchSharp type.</exception>
    public static Dictionary<string, Tensor> Load(string path, Device? device = null)
    {
        using var reader = Open(path);
        return reader.ReadAll(device);
    }

    /// <summary>Whether the file holds a tensor called <paramref name="name"/>.</summary>
    /// <param name="name">A tensor name.</param>
    /// <returns><c>true</c> when the header lists it.</returns>
    public bool Contains(string name) => name is not null && _byName.ContainsKey(name);

    /// <summary>The header entry of the tensor called <paramref name="name"/>.</summary>
    /// <param name="name">A tensor name.</param>
    /// <returns>Its dtype, shape and byte range.</returns>
    /// <exception cref="ArgumentException">The file has no such tensor (the message lists a few it has).</exception>
    public SafetensorsTensorInfo GetInfo(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out var info))
        {
            return info;
        }

        var some = string.Join(", ", Tensors.Take(5).Select(t => $"'{t.Name}'"));
        throw new ArgumentException(
            $"'{Path}' has no tensor named '{name}'. It has {Tensors.Count} tensors{(Tensors.Count > 0 ? $", e.g. {some}" : string.Empty)}; check the name (and any prefix such as 'bert.').",
            nameof(name));
    }

    /// <summary>Reads one tensor: seeks to it and streams its bytes from the file into a new CPU tensor.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="device">Where to put it; <c>null</c> for the CPU.</param>
    /// <returns>A new tensor with the file's dtype and shape (not requiring grad); the caller owns it.</returns>
    /// <exception cref="ArgumentException">The file has no such tensor.</exception>
    /// <exception cref="NotSupportedException">The tensor's dtype has no TorchSharp type (U16, U32, U64, F8_*).</exception>
    /// <exception cref="SafetensorsFormatException">The file ended early (it changed after it was opened).</exception>
    /// <exception cref="ObjectDisposedException">The reader was disposed.</exception>
    public Tensor ReadTensor(string name, Device? device = null)
    {
        var info = GetInfo(name);
        ObjectDisposedException.ThrowIf(!_stream.CanRead, this);
        var type = info.ScalarType ?? throw new NotSupportedException(
            $"Tensor '{name}' in '{Path}' has dtype {info.DType}, which TorchSharp cannot hold; supported: {string.Join(", ", SafetensorsDType.Supported)}.");

        var tensor = torch.empty(info.Shape, dtype: type, device: torch.CPU);
        try
        {
            if (info.ByteLength > 0)
            {
                _stream.Seek(_dataStart + info.Begin, SeekOrigin.Begin);
                tensor.ReadBytesFromStream(_stream, CopyBufferSize);
            }
        }
        catch (EndOfStreamException e)
        {
            tensor.Dispose();
            throw new SafetensorsFormatException($"'{Path}' ended before the end of tensor '{name}': the file is truncated (or changed while open).", e);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }

        if (device is null || device.type == DeviceType.CPU)
        {
            return tensor;
        }

        using (tensor)
        {
            return tensor.to(device);
        }
    }

    /// <summary>Reads every tensor.</summary>
    /// <param name="device">Where to put them; <c>null</c> for the CPU.</param>
    /// <returns>The tensors by name, in header order; the caller owns them.</returns>
    /// <exception cref="NotSupportedException">A tensor's dtype has no TorchSharp type.</exception>
    /// <exception cref="SafetensorsFormatException">The file ended early.</exception>
    public Dictionary<string, Tensor> ReadAll(Device? device = null)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var info in Tensors)
            {
                result.Add(info.Name, ReadTensor(info.Name, device));
            }
        }
        catch
        {
            foreach (var tensor in result.Values)
            {
                tensor.Dispose();
            }

            throw;
        }

        return result;
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _stream.Dispose();

    internal static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors files are little-endian and this reader copies bytes as they are; a big-endian machine is not supported.");
        }
    }
}

using System.Security.Cryptography;

using static TorchSharp.torch;

namespace VectorFit;

/// <summary>The SHA-256 of a tensor's raw bytes (row-major, little-endian: the bytes a safetensors file holds), on any device.</summary>
internal static class TensorHash
{
    private const int CopyBufferSize = 1 << 20;

    /// <summary>The SHA-256 (lowercase hex) of the raw bytes of <paramref name="tensor"/>.</summary>
    public static string Sha256(Tensor tensor)
    {
        using var hashing = new HashingStream();
        WriteBytes(tensor, hashing);
        return hashing.HexDigest();
    }

    /// <summary>Copies the raw bytes of <paramref name="tensor"/> (any device, any layout) into <paramref name="stream"/>.</summary>
    public static void WriteBytes(Tensor tensor, Stream stream)
    {
        if (tensor.numel() == 0)
        {
            return;
        }

        using var scope = TorchSharp.torch.NewDisposeScope();
        var host = tensor.detach().cpu().contiguous();
        host.WriteBytesToStream(stream, CopyBufferSize);
    }
}

/// <summary>A write-only stream that feeds what is written to it into a SHA-256, so tensor bytes can be hashed with <c>Tensor.WriteBytesToStream</c> at any size.</summary>
internal sealed class HashingStream : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _length;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _length;

    public override long Position
    {
        get => _length;
        set => throw new NotSupportedException();
    }

    /// <summary>The SHA-256 of everything written so far, as lowercase hex.</summary>
    public string HexDigest() => Convert.ToHexString(_hash.GetCurrentHash()).ToLowerInvariant();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _hash.AppendData(buffer);
        _length += buffer.Length;
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }
}

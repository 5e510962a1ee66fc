using TorchSharp;
using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

[Collection("libtorch")]
public class Lib2Tests
{
    [Fact]
    public void Mv_MultipliesAMatrixByAVector()
    {
        using var m = tensor(new double[] { 1, 2, 3, 4, 5, 6 }).reshape(2, 3);
        using var v = tensor(new double[] { 1, 0, -1 });
        using var y = m.mv(v);
        y.shape.Should().Equal(2);
        y.data<double>().ToArray().Should().Equal(-2, -2);
    }

    [Fact]
    public void WriteThenReadBytes_RoundTripsInSmallChunks()
    {
        using var source = arange(10, dtype: ScalarType.Float32);
        using var stream = new MemoryStream();
        source.WriteBytesToStream(stream, bufferSize: 7);
        stream.Length.Should().Be(40);
        stream.ToArray()[4..8].Should().Equal(BitConverter.GetBytes(1f));

        stream.Position = 0;
        using var target = zeros(10, dtype: ScalarType.Float32);
        target.ReadBytesFromStream(stream, bufferSize: 3);
        target.data<float>().ToArray().Should().Equal(source.data<float>().ToArray());
    }

    [Fact]
    public void ReadBytes_ShortStream_ThrowsEndOfStream()
    {
        using var target = zeros(4, dtype: ScalarType.Int64);
        using var stream = new MemoryStream(new byte[10]);
        var act = () => target.ReadBytesFromStream(stream);
        act.Should().Throw<EndOfStreamException>();
    }

    [Fact]
    public void RawBytes_NeedAContiguousTensor()
    {
        using var m = zeros(2, 3);
        using var t = m.t();
        var act = () => t.WriteBytesToStream(new MemoryStream());
        act.Should().Throw<InvalidOperationException>().WithMessage("*non-contiguous*");
    }
}

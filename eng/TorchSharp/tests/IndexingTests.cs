using TorchSharp.Utils;
using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

/// Views, reshapes, joins, indexing (integers, slices, None, ellipsis, tensor indices, index_put_) and element
/// access (data, item, TensorAccessor), against positions computed here from the row-major layout.
[Collection("libtorch")]
public class IndexingTests
{
    /// x[i, j, k] = 100·i + 10·j + k over shape (2, 3, 4): every element names its position.
    static Tensor X() => tensor(Enumerable.Range(0, 24).Select(n => 100.0 * (n / 12) + 10 * (n / 4 % 3) + n % 4).ToArray(), new long[] { 2, 3, 4 });

    static double At(long i, long j, long k) => 100.0 * i + 10 * j + k;

    static double[] V(Tensor t) => t.data<double>().ToArray();
    static long[] L(Tensor t) => t.data<long>().ToArray();

    static double[] Grid(IEnumerable<long> i, IEnumerable<long> j, IEnumerable<long> k) =>
        (from a in i from b in j from c in k select At(a, b, c)).ToArray();

    static IEnumerable<long> R(long start, long stop, long step = 1)
    {
        for (long v = start; v < stop; v += step) yield return v;
    }

    // ---- shape operations ------------------------------------------------------------------------

    [Fact]
    public void ReshapeViewFlatten()
    {
        var x = X();
        var r = x.reshape(4, 6);
        r.shape.Should().Equal(4, 6);
        V(r).Should().Equal(V(x));
        x.reshape(-1).shape.Should().Equal(24);
        x.view(6, -1).shape.Should().Equal(6, 4);
        var v = x.view(24);
        v[5].fill_(-1.0);
        x[0, 1, 1].item<double>().Should().Be(-1.0);   // a view shares memory
        x.view_as(zeros(4, 6)).shape.Should().Equal(4, 6);
        x.flatten().shape.Should().Equal(24);
        x.flatten(1).shape.Should().Equal(2, 12);
        x.flatten(0, 1).shape.Should().Equal(6, 4);
        FluentActions.Invoking(() => x.transpose(0, 2).view(24)).Should().Throw<System.Runtime.InteropServices.ExternalException>();
        FluentActions.Invoking(() => x.reshape(5, 5)).Should().Throw<System.Runtime.InteropServices.ExternalException>();
    }

    [Fact]
    public void TransposePermuteAndStrides()
    {
        var x = X();
        x.stride().Should().Equal(12, 4, 1);
        var t = x.transpose(0, 2);
        t.shape.Should().Equal(4, 3, 2);
        t.stride().Should().Equal(1, 4, 12);
        t.is_contiguous().Should().BeFalse();
        V(t).Should().Equal(from k in R(0, 4) from j in R(0, 3) from i in R(0, 2) select At(i, j, k));
        var p = x.permute(1, 2, 0);
        p.shape.Should().Equal(3, 4, 2);
        V(p).Should().Equal(from j in R(0, 3) from k in R(0, 4) from i in R(0, 2) select At(i, j, k));
        x.transpose(-1, -2).shape.Should().Equal(2, 4, 3);
    }

    [Fact]
    public void NarrowSliceSelect()
    {
        var x = X();
        V(x.narrow(2, 1, 2)).Should().Equal(Grid(R(0, 2), R(0, 3), R(1, 3)));
        V(x.slice(1, 0, 3, 2)).Should().Equal(Grid(R(0, 2), new long[] { 0, 2 }, R(0, 4)));
        V(x.slice(2, -2, 4, 1)).Should().Equal(Grid(R(0, 2), R(0, 3), R(2, 4)));
        V(x.select(1, 2)).Should().Equal(Grid(R(0, 2), new long[] { 2 }, R(0, 4)));
        x.select(1, 2).shape.Should().Equal(2, 4);
        V(x.select(0, -1)).Should().Equal(Grid(new long[] { 1 }, R(0, 3), R(0, 4)));
    }

    [Fact]
    public void UnsqueezeSqueezeExpandRepeat()
    {
        var v = tensor(new[] { 1.0, 2, 3 });
        v.unsqueeze(0).shape.Should().Equal(1, 3);
        v.unsqueeze(-1).shape.Should().Equal(3, 1);
        zeros(1, 3, 1).squeeze().shape.Should().Equal(3);
        zeros(1, 3, 1).squeeze(0).shape.Should().Equal(3, 1);
        zeros(1, 3, 1).squeeze(1).shape.Should().Equal(1, 3, 1);   // not of size 1: unchanged
        var e = v.unsqueeze(0).expand(2, 3);
        e.shape.Should().Equal(2, 3);
        e.stride().Should().Equal(0, 1);
        V(e).Should().Equal(1, 2, 3, 1, 2, 3);
        V(v.unsqueeze(1).expand(new long[] { -1, 2 }, false)).Should().Equal(1, 1, 2, 2, 3, 3);
        v.expand_as(zeros(4, 3)).shape.Should().Equal(4, 3);
        V(v.repeat(2)).Should().Equal(1, 2, 3, 1, 2, 3);
        V(v.repeat(2, 1)).Should().Equal(1, 2, 3, 1, 2, 3);
        v.repeat(2, 2).shape.Should().Equal(2, 6);
    }

    [Fact]
    public void GatherIndexSelectIndexAdd()
    {
        var x = X();
        var idx = tensor(new long[] { 2, 0 });
        V(x.index_select(1, idx)).Should().Equal(Grid(R(0, 2), new long[] { 2, 0 }, R(0, 4)));
        var m = tensor(new[] { 1.0, 2, 3, 4 }, new long[] { 2, 2 });
        // gather(dim 1): out[i][j] = m[i][index[i][j]]
        V(m.gather(1, tensor(new long[] { 1, 1, 0, 1 }, new long[] { 2, 2 }))).Should().Equal(2, 2, 3, 4);
        var target = zeros(3, 2, ScalarType.Float64);
        var src = tensor(new[] { 1.0, 2, 3, 4, 5, 6 }, new long[] { 3, 2 });
        var rows = tensor(new long[] { 0, 2, 0 });
        // index_add(dim 0): target[rows[k]] += alpha·src[k]
        V(target.index_add(0, rows, src, 2)).Should().Equal(2 * (1 + 5), 2 * (2 + 6), 0, 0, 2 * 3, 2 * 4);
        V(target).Should().OnlyContain(d => d == 0);
        target.index_add_(0, rows, src, 1).Should().BeSameAs(target);
        V(target).Should().Equal(6, 8, 0, 0, 3, 4);
    }

    [Fact]
    public void UnbindSplitChunk()
    {
        var x = X();
        var parts = x.unbind(1);
        parts.Should().HaveCount(3);
        V(parts[2]).Should().Equal(Grid(R(0, 2), new long[] { 2 }, R(0, 4)));
        x.unbind().Should().HaveCount(2);
        var s = x.split(3, 2);   // sizes 3 and 1
        s.Select(t => t.shape[2]).Should().Equal(3, 1);
        V(s[1]).Should().Equal(Grid(R(0, 2), R(0, 3), new long[] { 3 }));
        x.split(1).Should().HaveCount(2);
        var s2 = x.split(new long[] { 1, 3 }, 2);
        s2.Select(t => t.shape[2]).Should().Equal(1, 3);
        V(s2[0]).Should().Equal(Grid(R(0, 2), R(0, 3), new long[] { 0 }));
        var c = x.chunk(2, 2);
        c.Should().HaveCount(2);
        V(c[1]).Should().Equal(Grid(R(0, 2), R(0, 3), R(2, 4)));
        x.chunk(2).Should().HaveCount(2);
    }

    // ---- indexing ----------------------------------------------------------------------------------

    [Fact]
    public void IntegerIndexers()
    {
        var x = X();
        V(x[1]).Should().Equal(Grid(new long[] { 1 }, R(0, 3), R(0, 4)));
        x[1].shape.Should().Equal(3, 4);
        V(x[1, 2]).Should().Equal(Grid(new long[] { 1 }, new long[] { 2 }, R(0, 4)));
        x[1, 2, 3].item<double>().Should().Be(At(1, 2, 3));
        x[-1, -1, -1].item<double>().Should().Be(At(1, 2, 3));
        x[1, 2, 3].shape.Should().BeEmpty();
    }

    [Fact]
    public void SlicesNoneAndEllipsis()
    {
        var x = X();
        V(x[TensorIndex.Colon, TensorIndex.Slice(1, 3)]).Should().Equal(Grid(R(0, 2), R(1, 3), R(0, 4)));
        V(x[TensorIndex.Ellipsis, TensorIndex.Slice(null, null, 2)]).Should().Equal(Grid(R(0, 2), R(0, 3), new long[] { 0, 2 }));
        V(x[TensorIndex.Ellipsis, 1]).Should().Equal(Grid(R(0, 2), R(0, 3), new long[] { 1 }));
        x[TensorIndex.Ellipsis, 1].shape.Should().Equal(2, 3);
        V(x[1, TensorIndex.Ellipsis, TensorIndex.Slice(-2)]).Should().Equal(Grid(new long[] { 1 }, R(0, 3), R(2, 4)));
        x[TensorIndex.None].shape.Should().Equal(1, 2, 3, 4);
        x[TensorIndex.Null, 0].shape.Should().Equal(1, 3, 4);
        x[TensorIndex.Colon, TensorIndex.None, 0].shape.Should().Equal(2, 1, 4);
        x[TensorIndex.Ellipsis].shape.Should().Equal(2, 3, 4);
        V(x[TensorIndex.Single(0), TensorIndex.Slice(1, null), TensorIndex.Single(2)]).Should().Equal(At(0, 1, 2), At(0, 2, 2));
        // C# ranges and indices
        V(x[1.., ..2, ^1]).Should().Equal(Grid(new long[] { 1 }, R(0, 2), new long[] { 3 }));
        V(x[(0, 1), (1, 2)]).Should().Equal(Grid(R(0, 1), R(1, 2), R(0, 4)));
        V(x[TensorIndex.Colon, TensorIndex.Slice(1..^1)]).Should().Equal(Grid(R(0, 2), new long[] { 1 }, R(0, 4)));
        V(x[0, TensorIndex.Slice(^2..)]).Should().Equal(Grid(new long[] { 0 }, R(1, 3), R(0, 4)));
    }

    [Fact]
    public void IndexingWithASliceReturnsAView()
    {
        var x = X();
        var view = x[TensorIndex.Colon, 1];
        view.fill_(0.0);
        x[1, 1, 2].item<double>().Should().Be(0.0);
        var whole = x[TensorIndex.Ellipsis];
        whole.Should().NotBeSameAs(x);
        whole.Handle.Should().NotBe(x.Handle);
    }

    [Fact]
    public void TensorIndices()
    {
        var x = X();
        var rows = tensor(new long[] { 1, 0, 1 });
        V(x.index(rows)).Should().Equal(Grid(new long[] { 1, 0, 1 }, R(0, 3), R(0, 4)));
        V(x[rows]).Should().Equal(Grid(new long[] { 1, 0, 1 }, R(0, 3), R(0, 4)));
        // paired tensor indices pick elements: x[i_n, j_n, :]
        var js = tensor(new long[] { 2, 0, 1 });
        V(x.index(rows, js)).Should().Equal(new long[] { 0, 1, 2 }.SelectMany(n => R(0, 4).Select(k => At(new long[] { 1, 0, 1 }[n], new long[] { 2, 0, 1 }[n], k))));
        V(x[TensorIndex.Colon, TensorIndex.Tensor(tensor(new long[] { 2, 2 })), 0]).Should().Equal(At(0, 2, 0), At(0, 2, 0), At(1, 2, 0), At(1, 2, 0));
        V(x[TensorIndex.Ellipsis, TensorIndex.Tensor(tensor(new long[] { 3, 0 }))]).Should().Equal(Grid(R(0, 2), R(0, 3), new long[] { 3, 0 }));
        var mask = tensor(new[] { true, false, true });
        V(x[TensorIndex.Colon, TensorIndex.Tensor(mask)]).Should().Equal(Grid(R(0, 2), new long[] { 0, 2 }, R(0, 4)));
        FluentActions.Invoking(() => x[TensorIndex.Bool(true)]).Should().Throw<NotSupportedException>();
    }

    [Fact]
    public void IndexPutWritesThroughEveryKindOfIndex()
    {
        var x = X();
        x.index_put_(tensor(-1.0), 0, TensorIndex.Slice(1, 3)).Should().BeSameAs(x);
        V(x[0]).Should().Equal(R(0, 12).Select(n => n < 4 ? At(0, 0, n) : -1.0));
        x = X();
        x.index_put_(7.5, TensorIndex.Ellipsis, 0);
        V(x[TensorIndex.Ellipsis, 0]).Should().OnlyContain(v => v == 7.5);
        V(x[TensorIndex.Ellipsis, 1]).Should().Equal(Grid(R(0, 2), R(0, 3), new long[] { 1 }));
        x = X();
        x.index_put_(tensor(new[] { 1.0, 2, 3, 4 }), TensorIndex.Colon, TensorIndex.Tensor(tensor(new long[] { 2 })));
        V(x[1, 2]).Should().Equal(1, 2, 3, 4);
        V(x[1, 1]).Should().Equal(Grid(new long[] { 1 }, new long[] { 1 }, R(0, 4)));
        x = X();
        x.index_put_(0, TensorIndex.Tensor(tensor(new long[] { 1 })), TensorIndex.Tensor(tensor(new long[] { 0 })));
        V(x[1, 0]).Should().OnlyContain(v => v == 0);
        V(x[0, 0]).Should().Equal(Grid(new long[] { 0 }, new long[] { 0 }, R(0, 4)));
    }

    [Fact]
    public void IndexerSetters()
    {
        var x = X();
        x[1] = zeros(3, 4, ScalarType.Float64);
        V(x[1]).Should().OnlyContain(v => v == 0);
        V(x[0]).Should().Equal(Grid(new long[] { 0 }, R(0, 3), R(0, 4)));
        x = X();
        x[0, 2] = tensor(new[] { 9.0, 8, 7, 6 });
        V(x[0, 2]).Should().Equal(9, 8, 7, 6);
        x[1, 1, 1] = tensor(-5.0);
        x[1, 1, 1].item<double>().Should().Be(-5);
        x[TensorIndex.Colon, 0] = tensor(3.0);
        V(x[TensorIndex.Colon, 0]).Should().OnlyContain(v => v == 3);
        var rows = tensor(new long[] { 0 });
        x[rows] = tensor(1.0);
        V(x[0]).Should().OnlyContain(v => v == 1);
        x[tensor(new[] { false, true })] = tensor(2.0);   // a boolean mask tensor
        V(x[1]).Should().OnlyContain(v => v == 2);
    }

    [Fact]
    public void TensorIndexFactoriesAndConversions()
    {
        var x = X();
        TensorIndex i = 1L;
        V(x[i]).Should().Equal(V(x[1]));
        TensorIndex fromTuple = (1, 3);
        V(x[TensorIndex.Colon, fromTuple]).Should().Equal(V(x[TensorIndex.Colon, TensorIndex.Slice(1, 3)]));
        TensorIndex fromIndex = ^1;
        V(x[fromIndex]).Should().Equal(V(x[1]));
        TensorIndex fromRange = 0..1;
        x[fromRange].shape.Should().Equal(1, 3, 4);
        x[TensorIndex.Slice(step: 2)].shape.Should().Equal(1, 3, 4);
        x[TensorIndex.Single(-2)].shape.Should().Equal(3, 4);
    }

    // ---- element access ------------------------------------------------------------------------------

    [Fact]
    public void DataReadsLogicalOrderOverNonContiguousViews()
    {
        var x = X();
        var t = x.permute(2, 0, 1);
        t.data<double>().ToArray().Should().Equal(from k in R(0, 4) from i in R(0, 2) from j in R(0, 3) select At(i, j, k));
        var stepped = x[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(1, null, 2)];
        stepped.data<double>().ToArray().Should().Equal(Grid(R(0, 2), R(0, 3), new long[] { 1, 3 }));
        var expanded = tensor(new[] { 1.0, 2 }).unsqueeze(0).expand(3, 2);
        expanded.data<double>().ToArray().Should().Equal(1, 2, 1, 2, 1, 2);
        var acc = t.data<double>();
        acc.Count.Should().Be(24);
        acc[5].Should().Be(V(t.contiguous())[5]);
        acc[3, 1, 2].Should().Be(At(1, 2, 3));
        acc.Should().Equal(from k in R(0, 4) from i in R(0, 2) from j in R(0, 3) select At(i, j, k));   // enumeration
    }

    [Fact]
    public void AccessorWritesAndCopies()
    {
        var x = zeros(2, 3, ScalarType.Float64);
        var acc = x.data<double>();
        acc.IsReadOnly.Should().BeFalse();
        acc[1, 2] = 5;
        x[1, 2].item<double>().Should().Be(5);
        var column = x.t();   // writes through a transposed view land in the right place
        column.data<double>()[0, 1] = 7;
        x[1, 0].item<double>().Should().Be(7);
        acc.CopyFrom(new[] { 1.0, 2, 3 }, 0, 2);
        V(x).Should().Equal(0, 0, 1, 2, 3, 5);
        acc.CopyFrom(new[] { 9.0, 8 }.AsSpan(), 1);
        V(x).Should().Equal(8, 0, 1, 2, 3, 5);
        column.data<double>().CopyFrom(new[] { -1.0, -2 });   // logical order of the view: (0,0), (1,0)
        V(x).Should().Equal(-1, 0, 1, -2, 3, 5);
        var dst = new double[4];
        acc.CopyTo(dst, 1, 3);
        dst.Should().Equal(0, -2, 3, 5);
        Span<double> span = stackalloc double[2];
        column.data<double>().CopyTo(span, 0, 1);
        span.ToArray().Should().Equal(-2, 0);
        var one = tensor(new[] { 1.0, 2, 3 });
        one.data<double>()[2] = 30;
        V(one).Should().Equal(1, 2, 30);
    }

    [Fact]
    public void AccessorIndicesAreValidatedLikeTorchSharps()
    {
        var x = X();
        var acc = x.data<double>();
        FluentActions.Invoking(() => acc[24]).Should().Throw<IndexOutOfRangeException>();
        FluentActions.Invoking(() => acc[-1]).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => acc[0, 3, 0]).Should().Throw<IndexOutOfRangeException>();
        FluentActions.Invoking(() => acc[0, -1, 0]).Should().Throw<IndexOutOfRangeException>();
        // TorchSharp 0.105.1 writes with one index per dimension, so a single index writes only into 0-d and 1-d tensors.
        FluentActions.Invoking(() => acc[3] = 1).Should().Throw<IndexOutOfRangeException>();
        var scalar = tensor(2.0);
        var sacc = scalar.data<double>();
        sacc[0].Should().Be(2.0);
        sacc[0] = 4;
        scalar.item<double>().Should().Be(4);
        acc.Dispose();
        FluentActions.Invoking(() => acc.ToArray()).Should().Throw<ObjectDisposedException>();
        acc.Count.Should().Be(0);
    }

    [Fact]
    public void DataAndItemValidateTheElementType()
    {
        tensor(new[] { 1f }).item<float>().Should().Be(1f);
        tensor(new[] { 1.0 }).item<double>().Should().Be(1.0);
        tensor(new long[] { 3 }).item<long>().Should().Be(3);
        tensor(new[] { 4 }).item<int>().Should().Be(4);
        tensor(new[] { true }).item<bool>().Should().BeTrue();
        tensor(new Half[] { (Half)1.5 }, new long[] { 1 }).item<Half>().Should().Be((Half)1.5);
        tensor(new byte[] { 200 }, new long[] { 1 }).item<byte>().Should().Be(200);
        FluentActions.Invoking(() => tensor(new[] { 1f }).item<double>()).Should().Throw<ArgumentException>().WithMessage("*not compatible*");
        FluentActions.Invoking(() => tensor(new long[] { 1 }).item<int>()).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => tensor(new[] { true }).data<byte>()).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => tensor(new[] { 1.0 }).bfloat16().data<float>()).Should().Throw<ArgumentException>().WithMessage("*BFloat16*");
        FluentActions.Invoking(() => tensor(new[] { 1.0, 2.0 }).item<double>()).Should().Throw<ArgumentException>().WithMessage("*must be 1*");
        zeros(1, 1, ScalarType.Float64).item<double>().Should().Be(0);
    }
}

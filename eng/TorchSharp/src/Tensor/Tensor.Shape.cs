// Tensor methods that view, reshape, index and join, each one ATen operator.
using TorchSharp.PInvoke;

namespace TorchSharp
{
    public static partial class torch
    {
        public partial class Tensor
        {
            public Tensor reshape(params long[] shape) => Aten.T("aten::reshape", "", this, shape);
            public Tensor view(params long[] shape) => Aten.T("aten::view", "", this, shape);
            public Tensor view_as(Tensor other) => view(other.shape);
            public Tensor flatten(long start_dim = 0, long end_dim = -1) => Aten.T("aten::flatten", "using_ints", this, start_dim, end_dim);
            public Tensor transpose(long dim0, long dim1) => Aten.T("aten::transpose", "int", this, dim0, dim1);
            public Tensor permute(params long[] permutation) => Aten.T("aten::permute", "", this, permutation);
            public Tensor narrow(long dim, long start, long length) => Aten.T("aten::narrow", "", this, dim, start, length);
            public Tensor slice(long dim, long start, long finish, long step) => Aten.T("aten::slice", "Tensor", this, dim, start, finish, step);
            public Tensor select(long dim, long index) => Aten.T("aten::select", "int", this, dim, index);
            public Tensor unsqueeze(long dim) => Aten.T("aten::unsqueeze", "", this, dim);
            public Tensor squeeze(long? dim = null) => dim is null ? Aten.T("aten::squeeze", "", this) : Aten.T("aten::squeeze", "dim", this, dim.Value);
            public Tensor expand(long[] sizes, bool isImplicit = false) => Aten.T("aten::expand", "", this, sizes, isImplicit);
            public Tensor expand(params long[] sizes) => expand(sizes, false);
            public Tensor expand_as(Tensor other) => expand(other.shape);
            public Tensor repeat(params long[] sizes) => Aten.T("aten::repeat", "", this, sizes);
            public Tensor index_select(long dim, Tensor index) => Aten.T("aten::index_select", "", this, dim, index);
            public Tensor gather(long dim, Tensor index) => Aten.T("aten::gather", "", this, dim, index);
            public Tensor index_add(long dim, Tensor index, Tensor source, Scalar alpha) => Aten.T("aten::index_add", "", this, dim, index, source, alpha);
            public Tensor index_add_(long dim, Tensor index, Tensor source, Scalar alpha) { Aten.Do("aten::index_add_", "", this, dim, index, source, alpha); return this; }
            public Tensor[] unbind(long dimension = 0L) => Aten.List("aten::unbind", "int", this, dimension);
            public Tensor[] split(long size, int dim = 0) => Aten.List("aten::split", "Tensor", this, size, (long)dim);
            public Tensor[] split(long[] sizes, long dim = 0) => Aten.List("aten::split_with_sizes", "", this, sizes, dim);
            public Tensor[] chunk(long chunks, long dim = 0L) => Aten.List("aten::chunk", "", this, chunks, dim);

            public Tensor index(params Tensor[] indices) => Aten.T("aten::index", "Tensor", this, Arg.OptionalTensors(indices));

            public Tensor index(params TensorIndex[] indices)
            {
                using var scope = NewDisposeScope();
                var result = ApplyIndices(indices, out var advanced);
                if (advanced is not null) result = Aten.T("aten::index", "Tensor", result, Arg.OptionalTensors(advanced));
                if (ReferenceEquals(result, this)) result = Aten.T("aten::alias", "", this);
                return result.MoveToOuterDisposeScope();
            }

            public Tensor index_put_(Tensor value, params TensorIndex[] indices)
            {
                using var scope = NewDisposeScope();
                var view = ApplyIndices(indices, out var advanced);
                if (advanced is not null) Aten.Do("aten::index_put_", "", view, Arg.OptionalTensors(advanced), value, false);
                else view.copy_(value);
                return this;
            }

            public Tensor index_put_(Scalar value, params TensorIndex[] indices)
            {
                using var scope = NewDisposeScope();
                var view = ApplyIndices(indices, out var advanced);
                if (advanced is not null) Aten.Do("aten::index_put_", "", view, Arg.OptionalTensors(advanced), full(Array.Empty<long>(), value, dtype, device), false);
                else view.fill_(value);
                return this;
            }

            public Tensor this[params TensorIndex[] indices] {
                get => index(indices);
                set => index_put_(value, indices);
            }

            public Tensor this[params Tensor[] indices] {
                get => index(indices);
                set => Aten.Do("aten::index_put_", "", this, Arg.OptionalTensors(indices), value, false);
            }

            public Tensor this[long i1] {
                get => select(0, i1);
                set => index_put_(value, TensorIndex.Single(i1));
            }

            public Tensor this[long i1, long i2] {
                get => index(TensorIndex.Single(i1), TensorIndex.Single(i2));
                set => index_put_(value, TensorIndex.Single(i1), TensorIndex.Single(i2));
            }

            public Tensor this[long i1, long i2, long i3] {
                get => index(TensorIndex.Single(i1), TensorIndex.Single(i2), TensorIndex.Single(i3));
                set => index_put_(value, TensorIndex.Single(i1), TensorIndex.Single(i2), TensorIndex.Single(i3));
            }

            // Applies basic indices (integers, slices, None, ellipsis) as views; tensor indices are
            // gathered for one advanced-indexing call, with None for the dimensions they skip.
            private Tensor ApplyIndices(TensorIndex[] indices, out Tensor?[]? advanced)
            {
                advanced = null;
                var current = this;
                long dim = 0;
                long ndim = Dimensions;
                int consuming = indices.Count(i => i.kind is TensorIndex.Kind.Single or TensorIndex.Kind.Slice or TensorIndex.Kind.Tensor);
                var tensorIndices = new List<Tensor?>();
                foreach (var ix in indices) {
                    switch (ix.kind) {
                    case TensorIndex.Kind.Single:
                        current = current.select(dim, ix.startIndexOrBoolOrSingle!.Value);
                        break;
                    case TensorIndex.Kind.Slice: {
                        var size = current.shape[dim];
                        long start = ix.startIndexOrBoolOrSingle ?? 0, stop = ix.stopIndex ?? size, step = ix.step ?? 1;
                        current = current.slice(dim, start, stop, step);
                        tensorIndices.Add(null);
                        dim++;
                        break;
                    }
                    case TensorIndex.Kind.None:
                    case TensorIndex.Kind.Null:
                        current = current.unsqueeze(dim);
                        tensorIndices.Add(null);
                        dim++;
                        break;
                    case TensorIndex.Kind.Ellipsis: {
                        var skip = ndim - consuming;
                        for (long k = 0; k < skip; k++) tensorIndices.Add(null);
                        dim += skip;
                        break;
                    }
                    case TensorIndex.Kind.Tensor:
                        tensorIndices.Add(ix.tensor);
                        dim++;
                        break;
                    default:
                        throw new NotSupportedException("Boolean indices are not supported by the offline binding.");
                    }
                }
                if (tensorIndices.Any(t => t is not null)) advanced = tensorIndices.ToArray();
                return current;
            }
        }

        /// <summary>One index of a multi-dimensional indexing expression.</summary>
        public struct TensorIndex
        {
            internal enum Kind { None, Single, Null, Ellipsis, Bool, Tensor, Slice }

            internal long? startIndexOrBoolOrSingle;
            internal long? stopIndex;
            internal long? step;
            internal Kind kind;
            internal Tensor? tensor;

            public static TensorIndex Slice(long? start = null, long? stop = null, long? step = null) => new() { startIndexOrBoolOrSingle = start, stopIndex = stop, step = step, kind = Kind.Slice };
            public static TensorIndex Slice(System.Range range)
            {
                long? start = !range.Start.IsFromEnd ? range.Start.Value : -1 * range.Start.Value;
                long? end = !range.End.IsFromEnd ? range.End.Value : (range.End.Value == 0) ? null : -1 * range.End.Value;
                return Slice(start, end);
            }
            public static TensorIndex Bool(bool value) => new() { startIndexOrBoolOrSingle = value ? 1 : 0, kind = Kind.Bool };
            public static TensorIndex Single(long? index) => new() { startIndexOrBoolOrSingle = index, kind = Kind.Single };
            public static TensorIndex Tensor(Tensor tensor) => new() { tensor = tensor, kind = Kind.Tensor };
            public static TensorIndex Ellipsis = new() { kind = Kind.Ellipsis };
            public static TensorIndex None = new() { kind = Kind.None };
            public static TensorIndex Null = new() { kind = Kind.Null };
            public static TensorIndex Colon = Slice();

            public static implicit operator TensorIndex(long value) => Single(value);
            public static implicit operator TensorIndex((int? start, int? end) range) => Slice((long?)range.start, (long?)range.end);
            public static implicit operator TensorIndex(System.Range range) => Slice(range);
            public static implicit operator TensorIndex(System.Index index) => Single(!index.IsFromEnd ? index.Value : -1 * index.Value);
        }
    }
}

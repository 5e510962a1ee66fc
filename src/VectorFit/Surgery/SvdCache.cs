using System.Globalization;
using TorchSharp;
using VectorFit.Serialization;
using static TorchSharp.torch;

namespace VectorFit.Surgery;

/// <summary>
/// A file of thin SVDs of base-model weights, so that adapting the same base model again (to train another adapter, or
/// to load one) reads each decomposition instead of recomputing it.
/// </summary>
/// <remarks>
/// Safetensors, one entry per weight, keyed by the weight's exact fingerprint: the SHA-256 of its bytes with its dtype
/// and shape (<c>{dtype}-{rows}x{cols}-{sha256}</c>, then <c>.U</c>, <c>.S</c>, <c>.V</c>). A weight that differs in a
/// single bit has another key, so a stale entry is never used, and one file can serve several base models. The entries
/// hold exactly what <see cref="ThinSvd.Of"/> returns (float64 SVD rounded once to the weight's dtype; U and V rounded once to
/// the layer's factor dtype when it asks for a narrower one, under a key ending <c>-factors-{dtype}</c>), so a cached and an
/// uncached surgery build bit-identical layers. Entries are read one tensor at a time from the file (streamed), and
/// new ones are written back, atomically, after the surgery.
/// </remarks>
internal sealed class SvdCache : IDisposable
{
    private const string FormatKey = "format";
    private const string Format = "vectorfit-svd-cache/1";

    private readonly string _path;
    private readonly SafetensorsReader? _reader;
    private readonly Dictionary<string, (Tensor U, Tensor S, Tensor V)> _added = new(StringComparer.Ordinal);

    private SvdCache(string path, SafetensorsReader? reader)
    {
        _path = path;
        _reader = reader;
    }

    /// <summary>Decompositions read from the file.</summary>
    public int Hits { get; private set; }

    /// <summary>Decompositions computed (and to be written).</summary>
    public int Misses => _added.Count;

    /// <summary>Opens <paramref name="path"/>, or prepares to create it.</summary>
    /// <exception cref="ArgumentException">The file exists but is not an SVD cache.</exception>
    public static SvdCache Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            var folder = Path.GetDirectoryName(full);
            if (folder is null || !Directory.Exists(folder))
            {
                throw new ArgumentException($"The SVD cache '{full}' cannot be created: its folder does not exist. Create the folder first.", nameof(path));
            }

            return new SvdCache(full, null);
        }

        SafetensorsReader reader;
        try
        {
            reader = SafetensorsReader.Open(full);
        }
        catch (SafetensorsFormatException e)
        {
            throw new ArgumentException($"'{full}' is not a readable SVD cache ({e.Message}). Delete it; the next surgery rebuilds it.", nameof(path), e);
        }

        if (!reader.Metadata.TryGetValue(FormatKey, out var format) || format != Format)
        {
            reader.Dispose();
            throw new ArgumentException(
                $"'{full}' is a safetensors file but not a VectorFit SVD cache (its metadata has no \"{FormatKey}\": \"{Format}\"). Pass another path, or delete the file if it is an old cache.",
                nameof(path));
        }

        return new SvdCache(full, reader);
    }

    /// <summary>The thin SVD of <paramref name="weight"/>: from the file when it holds this exact weight, otherwise computed.</summary>
    public ThinSvd Get(Tensor weight, string paramName, ScalarType? factorDType = null)
    {
        var sha256 = SafetensorsWriter.Sha256(weight);
        var key = Key(weight, sha256, factorDType);
        if (_reader is not null && _reader.Contains(key + ".U") && _reader.Contains(key + ".S") && _reader.Contains(key + ".V"))
        {
            var device = weight.device;
            var u = _reader.ReadTensor(key + ".U", device);
            var s = _reader.ReadTensor(key + ".S", device);
            var v = _reader.ReadTensor(key + ".V", device);
            Hits++;
            return ThinSvd.FromFactors(u, s, v, sha256);
        }

        if (_added.TryGetValue(key, out var known))
        {
            // The same weight twice in one surgery (shared or tied layers): copies, the layers own their tensors.
            Hits++;
            return ThinSvd.FromFactors(known.U.clone().DetachFromDisposeScope(), known.S.clone().DetachFromDisposeScope(), known.V.clone().DetachFromDisposeScope(), sha256);
        }

        var computed = ThinSvd.Of(weight, paramName, factorDType);
        _added[key] = (computed.U.clone().DetachFromDisposeScope(), computed.S.clone().DetachFromDisposeScope(), computed.V.clone().DetachFromDisposeScope());
        return ThinSvd.FromFactors(computed.U, computed.S, computed.V, sha256);
    }

    /// <summary>Writes the file (old entries and new) when the surgery computed anything new.</summary>
    public void Save()
    {
        if (_added.Count == 0)
        {
            return;
        }

        var tensors = new List<KeyValuePair<string, Tensor>>();
        var read = new List<Tensor>();
        try
        {
            if (_reader is not null)
            {
                foreach (var info in _reader.Tensors)
                {
                    var tensor = _reader.ReadTensor(info.Name);
                    read.Add(tensor);
                    tensors.Add(new(info.Name, tensor));
                }
            }

            foreach (var (key, (u, s, v)) in _added)
            {
                tensors.Add(new(key + ".U", u));
                tensors.Add(new(key + ".S", s));
                tensors.Add(new(key + ".V", v));
            }

            var metadata = new Dictionary<string, string>
            {
                [FormatKey] = Format,
                ["svd"] = "torch.linalg.svd in float64, rounded once to the weight's dtype (U and V to the factor dtype of a -factors- key); V not transposed",
            };
            _reader?.Dispose();
            SafetensorsWriter.Save(_path, tensors, metadata);
        }
        finally
        {
            foreach (var tensor in read)
            {
                tensor.Dispose();
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _reader?.Dispose();
        foreach (var (u, s, v) in _added.Values)
        {
            u.Dispose();
            s.Dispose();
            v.Dispose();
        }

        _added.Clear();
    }

    /// <summary>
    /// <c>{dtype}-{rows}x{cols}-{sha256 of the bytes}</c>, then <c>-factors-{dtype}</c> when U and V are asked for in a dtype
    /// other than the weight's (the entries built from one float64 SVD differ by their rounding).
    /// </summary>
    private static string Key(Tensor weight, string sha256, ScalarType? factorDType)
    {
        var shape = string.Join("x", weight.shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
        var key = $"{SafetensorsDType.FromScalarType(weight.dtype)}-{shape}-{sha256}";
        return factorDType is { } factors && factors != weight.dtype ? $"{key}-factors-{SafetensorsDType.FromScalarType(factors)}" : key;
    }
}

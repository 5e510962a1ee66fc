using System.Globalization;
using TorchSharp;
using VectorFit.Serialization;
using static TorchSharp.torch;

namespace VectorFit.Adapters;

/// <summary>One base tensor's fingerprint: its name, shape, dtype and either the SHA-256 of its bytes or a random-projection probe of its values.</summary>
internal sealed class TensorProbe
{
    /// <summary><see cref="Kind"/> of a tensor checked bit for bit (<see cref="Sha256"/>).</summary>
    public const string ExactKind = "sha256";

    /// <summary><see cref="Kind"/> of a probe (<see cref="Value"/>, <see cref="Bound"/>) checked to round-off.</summary>
    public const string ProbeKind = "probe";

    /// <summary><see cref="Kind"/> of the weight an adapted layer was built from (<see cref="Sha256"/>, or <c>null</c> when unknown).</summary>
    public const string SourceKind = "source";

    public required string Name { get; init; }

    /// <summary><see cref="ExactKind"/>, <see cref="ProbeKind"/> or <see cref="SourceKind"/>.</summary>
    public required string Kind { get; init; }

    public required string ElementType { get; init; }

    public required long[] Shape { get; init; }

    /// <summary>Whether the tensor is a buffer (e.g. BatchNorm running statistics) rather than a parameter.</summary>
    public bool Buffer { get; init; }

    /// <summary>SHA-256 (lowercase hex) of the tensor's bytes, for the exact kinds.</summary>
    public string? Sha256 { get; init; }

    /// <summary><c>qᵀ·T·p</c> for fixed probe vectors p and q (T viewed as a matrix; for an adapted layer, T = U·Vᵀ).</summary>
    public double Value { get; init; }

    /// <summary><c>‖q‖·‖p‖·‖T‖_F</c>, the largest |Value| can be: the scale for the tolerance.</summary>
    public double Bound { get; init; }
}

/// <summary>
/// Identifies the base model an adapter was trained on without storing it. Every frozen base tensor the adapter does not
/// hold — parameters and, unless the caller opts out, persistent buffers (e.g. BatchNorm running statistics) — is checked
/// bit for bit by the SHA-256 of its bytes: base tensors come from a checkpoint and are the same bytes on every device, so
/// a legitimate base matches exactly and any change, however small, is a different base. An adapted layer is checked by
/// the SHA-256 of the weight it was built from (when the layer knows it: it was not converted to another dtype since) and
/// by a probe of <c>U·Vᵀ</c> — the polar factor of the SVD, which does not depend on the signs or rotations LAPACK picks
/// — compared to round-off, because the decomposition itself differs between devices and libtorch builds; with σ and b
/// from the adapter it fixes the layer (<c>W = U·diag(σ)·Vᵀ</c>). A frozen σ (an SVFT layer's, or a VectorFit layer's
/// whose variant does not train it) is probed the same way.
/// </summary>
/// <remarks>
/// Tensors the adapter holds (trained vectors, fully trained modules) are left out, and so is any base tensor that shares
/// its storage with one of them (a tied weight, e.g. an embedding shared with a saved head: loading the head's tensor
/// restores both). Probes agree within 1e-5 (1e-3 for 16-bit dtypes)
/// of their bound.
/// </remarks>
internal static class BaseModelFingerprint
{
    private const double Tolerance = 1e-5;
    private const double HalfTolerance = 1e-3;

    /// <summary>Fingerprints the base tensors of <paramref name="model"/> that the adapter does not hold, sorted by name.</summary>
    /// <param name="model">The adapted model.</param>
    /// <param name="layers">Its adapted layers.</param>
    /// <param name="modulesToSave">Modules the adapter holds whole.</param>
    /// <param name="adapterTensors">state_dict keys the adapter holds.</param>
    /// <param name="includeBuffers">Whether persistent buffers are fingerprinted too.</param>
    public static List<TensorProbe> Compute(
        nn.Module model, IReadOnlyList<(string Name, nn.Module Layer)> layers, IReadOnlyList<string> modulesToSave,
        IReadOnlyCollection<string> adapterTensors, bool includeBuffers)
    {
        using var noGrad = torch.no_grad();
        var held = adapterTensors.ToHashSet(StringComparer.Ordinal);
        var state = model.state_dict();
        var heldHandles = held.Where(state.ContainsKey).Select(k => state[k].Handle).ToHashSet();
        // A tied weight (an embedding shared with a saved head) can be a separate managed tensor over the same storage,
        // which TorchSharp gives no way to compare directly: candidates are bit-identical to a held tensor, then tested.
        var heldBySignature = held.Where(k => state.ContainsKey(k) && torch.is_floating_point(state[k].dtype))
            .GroupBy(k => Signature(Exact(k, state[k])), StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(k => state[k]).ToList(), StringComparer.Ordinal);
        var layerPrefixes = layers.Select(l => l.Name + ".").ToList();
        var probedSigmas = new Dictionary<IntPtr, string>();
        foreach (var (name, layer) in layers)
        {
            if (layer is VectorFitLinear vectorFit && !vectorFit.Options.TrainSigma)
            {
                probedSigmas[vectorFit.sigma.Handle] = name;
            }
        }

        var probes = new List<TensorProbe>();
        var seen = new HashSet<IntPtr>();
        void Add(string name, Tensor tensor, bool buffer)
        {
            if (!seen.Add(tensor.Handle) || held.Contains(name) || heldHandles.Contains(tensor.Handle) || modulesToSave.Any(m => NameMatch.IsWithin(name, m)))
            {
                return;
            }

            if (probedSigmas.ContainsKey(tensor.Handle))
            {
                probes.Add(Probe(name, tensor));
            }
            else if (!layerPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal)) || name.EndsWith(".bias", StringComparison.Ordinal))
            {
                // Inside an adapted layer only the bias is a copy of a base tensor; U, V, σ and the SVFT tensors are covered below.
                var exact = Exact(name, tensor, buffer);
                if (!(heldBySignature.TryGetValue(Signature(exact), out var twins) && twins.Any(t => SharesStorage(t, tensor, exact.Sha256!))))
                {
                    probes.Add(exact);
                }
            }
        }

        foreach (var (name, parameter) in model.named_parameters())
        {
            Add(name, parameter, buffer: false);
        }

        if (includeBuffers)
        {
            foreach (var (name, buffer) in model.named_buffers(recurse: true, include_nonpersistent: false))
            {
                Add(name, buffer, buffer: true);
            }
        }

        foreach (var (name, layer) in layers)
        {
            var (u, v, frozenSigma) = AdaptedLayers.Factors(layer);
            var (value, bound) = ProbePolarFactor(u, v);
            var shape = new[] { u.shape[0], v.shape[0] };
            probes.Add(new TensorProbe { Name = $"{name}.U·Vᵀ", Kind = TensorProbe.ProbeKind, ElementType = u.dtype.ToString(), Shape = shape, Value = value, Bound = bound });
            var source = AdaptedLayers.SourceWeight(layer);
            probes.Add(new TensorProbe
            {
                Name = $"{name}.weight",
                Kind = TensorProbe.SourceKind,
                ElementType = (source?.DType ?? u.dtype).ToString(),
                Shape = shape,
                Sha256 = source?.Sha256,
            });
            if (frozenSigma is not null)
            {
                probes.Add(Probe($"{name}.sigma", frozenSigma));
            }
        }

        probes.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return probes;
    }

    /// <summary>The differences between the recorded fingerprint and the model's, one line each.</summary>
    public static List<string> Compare(IReadOnlyList<TensorProbe> recorded, IReadOnlyList<TensorProbe> current)
    {
        var problems = new List<string>();
        var now = current.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var differingLayers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var saved in recorded.Where(p => p.Kind == TensorProbe.SourceKind))
        {
            // An adapted layer's base weight, when both sides know it: exact, and it explains any probe difference below.
            if (now.TryGetValue(saved.Name, out var probe) && probe.Kind == TensorProbe.SourceKind && saved.Sha256 is not null && probe.Sha256 is not null
                && saved.ElementType == probe.ElementType && saved.Sha256 != probe.Sha256)
            {
                differingLayers.Add(saved.Name[..^".weight".Length]);
                problems.Add($"base tensor '{saved.Name}' holds different values (the adapted layer was built from another {probe.ElementType} weight: its SHA-256 differs)");
            }
        }

        foreach (var saved in recorded)
        {
            if (!now.Remove(saved.Name, out var probe))
            {
                problems.Add($"base tensor '{saved.Name}' of the adapter's base model is not a frozen tensor of this model");
                continue;
            }

            if (saved.Kind == TensorProbe.SourceKind || differingLayers.Any(l => saved.Name.StartsWith(l + ".", StringComparison.Ordinal)))
            {
                continue;
            }

            if (saved.Kind != probe.Kind || !saved.Shape.SequenceEqual(probe.Shape) || saved.ElementType != probe.ElementType)
            {
                problems.Add($"base tensor '{saved.Name}' is {probe.ElementType} [{string.Join(", ", probe.Shape)}] here but {saved.ElementType} [{string.Join(", ", saved.Shape)}] in the adapter's base model");
                continue;
            }

            if (saved.Kind == TensorProbe.ExactKind)
            {
                if (saved.Sha256 != probe.Sha256)
                {
                    problems.Add(saved.Buffer
                        ? $"base tensor '{saved.Name}' holds different values (its SHA-256 differs). It is a buffer: if it changed in training (running statistics update in train mode), " +
                          "add its module to ModulesToSave so the adapter holds it, or save with fingerprintBuffers: false"
                        : $"base tensor '{saved.Name}' holds different values (its SHA-256 differs: base tensors are compared bit for bit)");
                }

                continue;
            }

            var tolerance = (probe.ElementType is nameof(ScalarType.Float16) or nameof(ScalarType.BFloat16) ? HalfTolerance : Tolerance) * Math.Max(saved.Bound, probe.Bound);
            if (!(Math.Abs(saved.Value - probe.Value) <= tolerance) || !(Math.Abs(saved.Bound - probe.Bound) <= tolerance))
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture,
                    $"base tensor '{saved.Name}' holds different values (probe {probe.Value:G6}, norm scale {probe.Bound:G6}; the adapter's base model had {saved.Value:G6}, {saved.Bound:G6})"));
            }
        }

        problems.AddRange(now.Keys.Select(name => $"this model has the frozen tensor '{name}', which the adapter's base model did not have"));
        return problems;
    }

    /// <summary>Problems with a fingerprint record read from a file (missing fields, unknown kinds, values JSON cannot hold); empty when it is well formed.</summary>
    public static string? RecordProblem(IReadOnlyList<TensorProbe?> record)
    {
        foreach (var probe in record)
        {
            if (probe is null || probe.Name is null || probe.ElementType is null || probe.Shape is null || probe.Kind is null)
            {
                return "an entry of base_model is null or lacks its name, kind, element type or shape";
            }

            var ok = probe.Kind switch
            {
                TensorProbe.ExactKind => probe.Sha256 is { Length: 64 },
                TensorProbe.SourceKind => probe.Sha256 is null or { Length: 64 },
                TensorProbe.ProbeKind => double.IsFinite(probe.Value) && double.IsFinite(probe.Bound),
                _ => false,
            };
            if (!ok)
            {
                return $"base_model entry '{probe.Name}' of kind '{probe.Kind}' is malformed";
            }
        }

        return null;
    }

    /// <summary>
    /// Whether writing <paramref name="held"/> changes <paramref name="candidate"/> (whose bytes hash to <paramref name="candidateSha256"/>):
    /// negates <paramref name="held"/> in place, hashes <paramref name="candidate"/>, and negates back (exact: negation only flips sign bits).
    /// </summary>
    private static bool SharesStorage(Tensor held, Tensor candidate, string candidateSha256)
    {
        using var noGrad = torch.no_grad();
        held.neg_();
        try
        {
            return SafetensorsWriter.Sha256(candidate) != candidateSha256;
        }
        finally
        {
            held.neg_();
        }
    }

    private static string Signature(TensorProbe probe) => $"{probe.ElementType}[{string.Join(",", probe.Shape)}]{probe.Sha256}";

    private static TensorProbe Exact(string name, Tensor tensor, bool buffer = false) => new()
    {
        Name = name,
        Buffer = buffer,
        Kind = TensorProbe.ExactKind,
        ElementType = tensor.dtype.ToString(),
        Shape = tensor.shape,
        Sha256 = SafetensorsWriter.Sha256(tensor),
    };

    private static TensorProbe Probe(string name, Tensor tensor)
    {
        var (value, bound) = ProbeTensor(tensor);
        return new TensorProbe { Name = name, Kind = TensorProbe.ProbeKind, ElementType = tensor.dtype.ToString(), Shape = tensor.shape, Value = value, Bound = bound };
    }

    // Only small tensors (σ vectors) are probed: in float64, so no finite value overflows the norm.
    private static (double Value, double Bound) ProbeTensor(Tensor tensor)
    {
        var count = tensor.numel();
        if (count == 0)
        {
            return (0, 0);
        }

        using var scope = torch.NewDisposeScope();
        var rows = tensor.dim() == 0 ? 1 : tensor.shape[0];
        var columns = count / rows;
        var matrix = tensor.detach().reshape(rows, columns).to(ScalarType.Float64);
        var p = Probe(columns, 0.7, 0.1, ScalarType.Float64, tensor.device);
        var q = Probe(rows, 1.3, 0.2, ScalarType.Float64, tensor.device);
        var value = (matrix.mv(p) * q).sum().item<double>();
        var bound = q.norm().item<double>() * p.norm().item<double>() * matrix.norm().item<double>();
        if (!double.IsFinite(value) || !double.IsFinite(bound))
        {
            throw new InvalidOperationException($"A frozen σ of the model holds NaN or infinite values, so it cannot be fingerprinted; training or loading has diverged. Restore a finite model first.");
        }

        return (value, bound);
    }

    private static (double Value, double Bound) ProbePolarFactor(Tensor u, Tensor v)
    {
        using var scope = torch.NewDisposeScope();
        var type = u.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var q = Probe(u.shape[0], 1.3, 0.2, type, u.device);
        var p = Probe(v.shape[0], 0.7, 0.1, type, v.device);
        var left = u.to(type).t().mv(q).to(ScalarType.Float64);
        var right = v.to(type).t().mv(p).to(ScalarType.Float64);
        var value = (left * right).sum().item<double>();
        var bound = q.to(ScalarType.Float64).norm().item<double>() * p.to(ScalarType.Float64).norm().item<double>() * Math.Sqrt(u.shape[1]);
        if (!double.IsFinite(value))
        {
            throw new InvalidOperationException("An adapted layer's U or V holds NaN or infinite values, so the base model cannot be fingerprinted. Restore a finite model first.");
        }

        return (value, bound);
    }

    // cos(a·i + b): deterministic, dense and of mixed sign, so no weight pattern is invisible to it.
    private static Tensor Probe(long length, double a, double b, ScalarType type, Device device)
    {
        using var stop = length.ToScalar();
        using var slope = a.ToScalar();
        using var offset = b.ToScalar();
        return torch.arange(stop, dtype: ScalarType.Float64, device: device).mul(slope).add(offset, HeldScalars.One).cos().to(type);
    }
}

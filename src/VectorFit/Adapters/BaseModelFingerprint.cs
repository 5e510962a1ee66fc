using System.Globalization;
using System.Text.Json.Serialization;
using TorchSharp;
using VectorFit.Serialization;
using static TorchSharp.torch;
using VectorFit.Surgery;

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

    /// <summary>
    /// The same check with the tensor cast to other floating dtypes first (on saving: every coarser one; on loading: the
    /// recorded dtype), so that a base model cast with <c>model.to(dtype)</c> compares exactly; <c>null</c> when none.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<CastProbe>? Casts { get; init; }
}

/// <summary>A <see cref="TensorProbe"/>'s check of the tensor cast to <see cref="ElementType"/>: a SHA-256 (exact kind) or a probe.</summary>
internal sealed class CastProbe
{
    public required string ElementType { get; init; }

    /// <summary>SHA-256 of the cast tensor's bytes, for the exact kind.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Sha256 { get; init; }

    public double Value { get; init; }

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
/// of their bound. A base model in another floating dtype (<c>model.to(BFloat16)</c> before or after the surgery) is the
/// same base: each tensor is also checked cast to the coarser dtypes when saving, and to the recorded dtype when loading,
/// and the two sides compare in the coarser dtype, where rounding the finer tensor reproduces the coarser one exactly
/// (bit for bit, so exact tensors stay exact).
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
    /// <param name="recorded">
    /// When loading, the fingerprint recorded in the adapter: tensors whose recorded dtype differs are also checked cast to it.
    /// When saving (<c>null</c>), each floating tensor is also checked cast to every coarser floating dtype.
    /// </param>
    public static List<TensorProbe> Compute(
        nn.Module model, IReadOnlyList<(string Name, SvdAdaptedLinear Layer)> layers, IReadOnlyList<string> modulesToSave,
        IReadOnlyCollection<string> adapterTensors, bool includeBuffers, IReadOnlyList<TensorProbe>? recorded = null)
    {
        var recordedTypes = recorded?.GroupBy(p => p.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().ElementType, StringComparer.Ordinal);
        IReadOnlyList<ScalarType> CastsFor(string name, ScalarType own)
        {
            if (!IsFloating(own))
            {
                return Array.Empty<ScalarType>();
            }

            if (recordedTypes is null)
            {
                return CastTargets.Where(t => MantissaBits(t) < MantissaBits(own)).ToList();
            }

            return recordedTypes.TryGetValue(name, out var type) && Enum.TryParse<ScalarType>(type, out var target) && target != own && IsFloating(target)
                ? new[] { target }
                : Array.Empty<ScalarType>();
        }

        TensorProbe WithCasts(TensorProbe probe, Tensor tensor)
        {
            var casts = CastsFor(probe.Name, tensor.dtype).Select(t => CastOf(probe.Kind, tensor, t)).ToList();
            return casts.Count == 0 ? probe : new TensorProbe
            {
                Name = probe.Name, Kind = probe.Kind, ElementType = probe.ElementType, Shape = probe.Shape, Buffer = probe.Buffer,
                Sha256 = probe.Sha256, Value = probe.Value, Bound = probe.Bound, Casts = casts,
            };
        }

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
            if (layer.UntrainedBaseParameter is { } untrained)
            {
                probedSigmas[untrained.Handle] = name;
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
                probes.Add(WithCasts(Probe(name, tensor), tensor));
            }
            else if (!layerPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal)) || name.EndsWith(".bias", StringComparison.Ordinal))
            {
                // Inside an adapted layer only the bias is a copy of a base tensor; U, V, σ and the SVFT tensors are covered below.
                var exact = Exact(name, tensor, buffer);
                if (!(heldBySignature.TryGetValue(Signature(exact), out var twins) && twins.Any(t => SharesStorage(t, tensor, exact.Sha256!))))
                {
                    probes.Add(WithCasts(exact, tensor));
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
            var ((u, v), frozenSigma) = (layer.ReadOnlyFactors, layer.FrozenSigma);
            var (value, bound) = ProbePolarFactor(u, v);
            var shape = new[] { u.shape[0], v.shape[0] };
            var polarName = $"{name}.U·Vᵀ";
            var polarCasts = CastsFor(polarName, u.dtype).Select(t => CastProbeOf(t, ProbePolarFactorAs(u, v, t))).ToList();
            probes.Add(new TensorProbe
            {
                Name = polarName, Kind = TensorProbe.ProbeKind, ElementType = u.dtype.ToString(), Shape = shape, Value = value, Bound = bound,
                Casts = polarCasts.Count == 0 ? null : polarCasts,
            });
            var source = layer.SourceWeight;
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
                probes.Add(WithCasts(Probe($"{name}.frozen_sigma", frozenSigma), frozenSigma));
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

            // A dtype change (model.to(BFloat16) after the surgery, or before it) compares in the coarser dtype, where the cast
            // of the finer tensor reproduces the coarser one exactly; any other dtype difference is a different base.
            var (savedSide, currentSide, type) = saved.ElementType == probe.ElementType
                ? (Side(saved), Side(probe), probe.ElementType)
                : saved.Casts?.FirstOrDefault(c => c.ElementType == probe.ElementType) is { } savedCast
                    ? (Side(savedCast), Side(probe), probe.ElementType)
                    : probe.Casts?.FirstOrDefault(c => c.ElementType == saved.ElementType) is { } currentCast
                        ? (Side(saved), Side(currentCast), saved.ElementType)
                        : (default, default, string.Empty);
            if (saved.Kind != probe.Kind || !saved.Shape.SequenceEqual(probe.Shape) || type.Length == 0)
            {
                problems.Add($"base tensor '{saved.Name}' is {probe.ElementType} [{string.Join(", ", probe.Shape)}] here but {saved.ElementType} [{string.Join(", ", saved.Shape)}] in the adapter's base model");
                continue;
            }

            var cast = type == probe.ElementType && type == saved.ElementType ? string.Empty : $", compared as {type}";
            if (saved.Kind == TensorProbe.ExactKind)
            {
                if (savedSide.Sha256 != currentSide.Sha256)
                {
                    problems.Add(saved.Buffer
                        ? $"base tensor '{saved.Name}' holds different values (its SHA-256 differs{cast}). It is a buffer: if it changed in training (running statistics update in train mode), " +
                          "add its module to ModulesToSave so the adapter holds it, or save with fingerprintBuffers: false"
                        : $"base tensor '{saved.Name}' holds different values (its SHA-256 differs{cast}: base tensors are compared bit for bit)");
                }

                continue;
            }

            var tolerance = (type is nameof(ScalarType.Float16) or nameof(ScalarType.BFloat16) ? HalfTolerance : Tolerance) * Math.Max(savedSide.Bound, currentSide.Bound);
            if (!(Math.Abs(savedSide.Value - currentSide.Value) <= tolerance) || !(Math.Abs(savedSide.Bound - currentSide.Bound) <= tolerance))
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture,
                    $"base tensor '{saved.Name}' holds different values{(cast.Length == 0 ? "" : $" ({cast[2..]})")} (probe {currentSide.Value:G6}, norm scale {currentSide.Bound:G6}; the adapter's base model had {savedSide.Value:G6}, {savedSide.Bound:G6})"));
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

    private static readonly ScalarType[] CastTargets = { ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16 };

    private static bool IsFloating(ScalarType type) => type is ScalarType.Float64 or ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16;

    private static int MantissaBits(ScalarType type) => type switch
    {
        ScalarType.Float64 => 52,
        ScalarType.Float32 => 23,
        ScalarType.Float16 => 10,
        ScalarType.BFloat16 => 7,
        _ => 0,
    };

    private static (string? Sha256, double Value, double Bound) Side(TensorProbe probe) => (probe.Sha256, probe.Value, probe.Bound);

    private static (string? Sha256, double Value, double Bound) Side(CastProbe probe) => (probe.Sha256, probe.Value, probe.Bound);

    private static CastProbe CastProbeOf(ScalarType type, (double Value, double Bound) probe)
        => new() { ElementType = type.ToString(), Value = probe.Value, Bound = probe.Bound };

    // The check of `kind` on the tensor cast to `type`: its bytes' SHA-256 (exact) or a probe.
    private static CastProbe CastOf(string kind, Tensor tensor, ScalarType type)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var cast = tensor.detach().to(type);
        return kind == TensorProbe.ExactKind
            ? new CastProbe { ElementType = type.ToString(), Sha256 = SafetensorsWriter.Sha256(cast) }
            : CastProbeOf(type, ProbeTensor(cast));
    }

    private static (double Value, double Bound) ProbePolarFactorAs(Tensor u, Tensor v, ScalarType type)
    {
        using var scope = torch.NewDisposeScope();
        return ProbePolarFactor(u.detach().to(type), v.detach().to(type));
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
        return torch.arange(HeldScalars.Zero, stop, HeldScalars.One, dtype: ScalarType.Float64, device: device).mul(slope).add(offset, HeldScalars.One).cos().to(type);
    }
}

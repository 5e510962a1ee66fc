using System.Buffers.Binary;
using System.Security.Cryptography;
using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Serialization;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>
/// The library's behaviour where it rests on a particular TorchSharp behaviour that no other test pins down:
/// a frozen vector's optimizer state is kept, <c>Module.to</c>, surgery and merging work inside dispose scopes,
/// <c>load_state_dict</c> reaches the tensors the layers compute with, safetensors files stream in several
/// chunks and detect truncation, and half-precision layers count as floating point. Each would fail if
/// TorchSharp changed the behaviour it relies on. (These replace the tests of the removed offline binding.)
/// </summary>
[Collection("libtorch")]
public sealed class TorchSharpRelianceTests
{
    // Larger than the 1 MiB copy buffer of SafetensorsWriter and SafetensorsReader, so a tensor streams in several chunks.
    private const int CopyBufferSize = 1 << 20;

    // AVF enabled (so one vector may be frozen) but with its first AVF step far beyond these tests.
    private static readonly AvfOptions FarSchedule = new() { InitialStep = 1000, Interval = 1, AvfSteps = 1, K = 1, Beta = 0.5 };

    /// <summary>
    /// Decided 4 of method §3: while AVF keeps a vector frozen, the optimizer skips it entirely, its state included,
    /// so after unfreezing it continues exactly as an optimizer that never saw the frozen steps (here: a separate
    /// optimizer for σ that simply is not stepped meanwhile). Relies on SGD and Adam(W) skipping parameters whose
    /// grad is null without advancing their step count, moments, momentum buffer or weight decay.
    /// </summary>
    [Theory]
    [InlineData("sgd-momentum")]
    [InlineData("adam")]
    [InlineData("adamw")]
    [InlineData("vectorfit-adamw")]
    public void AvfFrozenVector_KeepsItsOptimizerState_AndResumesAsIfTheFrozenStepsNeverHappened(string optimizerName)
    {
        using var x = Seeded(90, ScalarType.Float64, 8, 4);
        using var target = Seeded(91, ScalarType.Float64, 8, 3);

        // A: one optimizer over σ and b; σ frozen by AVF for steps 4 to 6.
        using var modelA = OneLayerModel(out var layerA);
        var avf = AvfScheduler.FromModel(modelA, FarSchedule);
        using var optimizerA = MakeOptimizer(optimizerName, [layerA.sigma, layerA.bias!]);

        // B, the reference: one optimizer per vector; σ's is simply not stepped during steps 4 to 6.
        using var modelB = OneLayerModel(out var layerB);

        // One evaluation path for both: a frozen σ would otherwise take the cached composed weight in A while B's σ
        // (trainable, just not stepped) takes the factored path, and the comparison below is exact.
        layerA.PathOverride = ForwardPath.Factored;
        layerB.PathOverride = ForwardPath.Factored;
        using var sigmaOptimizerB = MakeOptimizer(optimizerName, [layerB.sigma]);
        using var biasOptimizerB = MakeOptimizer(optimizerName, [layerB.bias!]);

        double[] frozenValue = [];
        for (var step = 1; step <= 9; step++)
        {
            if (step == 4)
            {
                avf.load_state_dict(WithFrozen(avf.state_dict(), "sigma"));
                avf.FrozenSet.Should().ContainSingle().Which.Kind.Should().Be(AvfVectorKind.Sigma);
                frozenValue = Values(layerA.sigma);
            }
            else if (step == 7)
            {
                avf.load_state_dict(WithFrozen(avf.state_dict()));
                avf.FrozenSet.Should().BeEmpty();
            }

            TrainStep(modelA, x, target, optimizerA);
            TrainStep(modelB, x, target, step is >= 4 and <= 6 ? [biasOptimizerB] : [sigmaOptimizerB, biasOptimizerB]);

            if (step == 6)
            {
                Values(layerA.sigma).Should().Equal(frozenValue, $"σ is frozen during steps 4 to 6 ({optimizerName})");
            }
        }

        Values(layerA.sigma).Should().NotEqual(frozenValue, "σ trains again once unfrozen");
        Values(layerA.sigma).Should().Equal(Values(layerB.sigma),
            $"{optimizerName} must keep σ's state untouched while it is frozen, so it resumes exactly where it left off");
        Values(layerA.bias!).Should().Equal(Values(layerB.bias!));
    }

    /// <summary>
    /// <c>Module.to</c> called inside a dispose scope (as in a training step) converts the adapted layers for good: the
    /// tensors their <c>_to</c> overrides get from TorchSharp's <c>ReplaceParameter</c>/<c>ReplaceBuffer</c> and from
    /// <c>Tensor.to</c> outlive the scope, trainability and a pending gradient travel with σ, and the model still computes
    /// the same function.
    /// </summary>
    [Fact]
    public void ModuleTo_InsideADisposeScope_LeavesTheAdaptedLayersWhole()
    {
        using var model = AdaptedPair(ScalarType.Float32, seed: 92, out var vectorFit, out var svft);
        using var x32 = Seeded(93, ScalarType.Float32, 5, 6);
        using var before = model.forward(x32);
        using (var loss = before.sum())
        {
            loss.backward();
        }

        double[] sigmaGrad;
        using (var grad = vectorFit.sigma.grad!)
        {
            sigmaGrad = Values(grad);
        }

        using (torch.NewDisposeScope())
        {
            model.to(ScalarType.Float64);
        }

        foreach (var (name, tensor) in model.state_dict())
        {
            tensor.IsInvalid.Should().BeFalse($"'{name}' was replaced inside the scope but belongs to the model");
            tensor.dtype.Should().Be(name.EndsWith("_rows", StringComparison.Ordinal) || name.EndsWith("_cols", StringComparison.Ordinal)
                ? ScalarType.Int64
                : ScalarType.Float64, name);
        }

        vectorFit.initial_sigma.IsInvalid.Should().BeFalse();
        vectorFit.initial_sigma.dtype.Should().Be(ScalarType.Float64);
        vectorFit.sigma.requires_grad.Should().BeTrue();
        svft.svft_values.requires_grad.Should().BeTrue();
        using (var grad = vectorFit.sigma.grad)
        {
            grad.Should().NotBeNull("the gradient travels with σ");
            grad!.dtype.Should().Be(ScalarType.Float64);
            Values(grad).Should().Equal(sigmaGrad);
        }

        using var x64 = x32.to(ScalarType.Float64);
        using var after = model.forward(x64);
        MaxAbsDiff(after, before).Should().BeLessThan(1e-5 * MaxAbs(before));
        using var delta = vectorFit.DeltaWeight();
        MaxAbs(delta).Should().BeLessThan(1e-6, "σ₀ moved with σ");
    }

    /// <summary>
    /// Surgery and merging done inside a dispose scope leave a working model after the scope: the layers they build
    /// (VectorFitLinear's parameters and buffers, and the merged <c>Linear</c>s made from new <c>Parameter</c>s) are
    /// owned by the model, not by the caller's scope.
    /// </summary>
    [Fact]
    public void ApplyAndMergeAndUnload_InsideDisposeScopes_LeaveAWorkingModel()
    {
        using var model = nn.Sequential(
            ("first", SeededLinear(4, 6, hasBias: true, ScalarType.Float64, seed: 94)),
            ("act", nn.Tanh()),
            ("second", SeededLinear(6, 3, hasBias: true, ScalarType.Float64, seed: 95)));
        using var x = Seeded(96, ScalarType.Float64, 5, 4);

        using (torch.NewDisposeScope())
        {
            ModelSurgery.Apply(model, new VectorFitConfig { TargetPredicate = (_, _) => true });
        }

        var layers = ModelSurgery.FindLayers<VectorFitLinear>(model);
        layers.Should().HaveCount(2);
        foreach (var (_, layer) in layers)
        {
            new[] { layer.sigma, layer.bias!, layer.U, layer.V, layer.initial_sigma }.Should().OnlyContain(t => !t.IsInvalid);
            Set(layer.sigma, Values(layer.sigma).Select((v, i) => v * (1.1 + (0.1 * i))).ToArray());
        }

        using var adapted = model.forward(x);

        using (torch.NewDisposeScope())
        {
            ModelSurgery.MergeAndUnload(model).Should().Equal("first", "second");
        }

        var merged = model.named_modules().Where(m => m.module is Linear).ToList();
        merged.Select(m => m.name).Should().Equal("first", "second");
        foreach (var (name, module) in merged)
        {
            var linear = (Linear)module;
            linear.weight!.IsInvalid.Should().BeFalse($"the merged weight of '{name}' belongs to the model");
            linear.bias!.IsInvalid.Should().BeFalse($"the merged bias of '{name}' belongs to the model");
        }

        using var after = model.forward(x);
        MaxAbsDiff(after, adapted).Should().BeLessThan(1e-10);
    }

    /// <summary>
    /// A root-level <c>load_state_dict</c> from another adapted model makes this one compute exactly the other's function:
    /// the layers keep no cache (VectorFitLinear remarks), because TorchSharp copies into the very tensors their fields
    /// hold, buffers (U, V, SVFT positions) included, under the names the layers register.
    /// </summary>
    [Fact]
    public void LoadStateDict_FromAnotherAdaptedModel_MakesForwardUseTheLoadedTensors()
    {
        using var source = AdaptedPair(ScalarType.Float64, seed: 97, out var sourceVectorFit, out var sourceSvft);
        Set(sourceVectorFit.sigma, Values(sourceVectorFit.sigma).Select(v => v * 1.5).ToArray());
        Set(sourceVectorFit.bias!, Values(sourceVectorFit.bias!).Select(v => v - 0.25).ToArray());
        Set(sourceSvft.svft_values, Enumerable.Range(0, (int)sourceSvft.ValueCount).Select(i => 0.1 * (i + 1)).ToArray());

        // Another base model (other weights, so other U, σ and V) adapted the same way.
        using var target = AdaptedPair(ScalarType.Float64, seed: 98, out var targetVectorFit, out var targetSvft);
        using var x = Seeded(99, ScalarType.Float64, 5, 6);
        using var expected = source.forward(x);
        using (var different = target.forward(x))
        {
            MaxAbsDiff(different, expected).Should().BeGreaterThan(1e-3, "the two models must differ for the test to bite");
        }

        var (missing, unexpected) = target.load_state_dict(source.state_dict());

        missing.Should().BeEmpty();
        unexpected.Should().BeEmpty();
        using var actual = target.forward(x);
        MaxAbsDiff(actual, expected).Should().Be(0);
        Values(targetVectorFit.U).Should().Equal(Values(sourceVectorFit.U));
        Values(targetSvft.svft_values).Should().Equal(Values(sourceSvft.svft_values));
    }

    /// <summary>
    /// Safetensors files hold tensors larger than the copy buffer: the writer streams them with
    /// <c>WriteBytesToStream</c> and the reader with <c>ReadBytesFromStream</c> in several chunks, in order, as
    /// little-endian bytes at the header's offsets, and the adapter checksum is the SHA-256 of exactly those bytes.
    /// </summary>
    [Fact]
    public void Safetensors_TensorLargerThanTheCopyBuffer_StreamsInChunks_ByteForByte()
    {
        var folder = Directory.CreateTempSubdirectory("vectorfit-reliance-").FullName;
        try
        {
            var path = Path.Combine(folder, "big.safetensors");
            const int count = (CopyBufferSize / sizeof(double) * 2) + 123; // two full buffers and a partial one
            using var big = torch.arange(count, dtype: ScalarType.Float64) * 0.5 - 7;
            using var after = torch.tensor(new[] { 3.25, -1.0 });
            SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["big"] = big, ["after"] = after });

            var bytes = File.ReadAllBytes(path);
            var dataStart = 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            using (var reader = SafetensorsReader.Open(path))
            {
                var info = reader.GetInfo("big");
                info.ByteLength.Should().Be((long)count * sizeof(double));
                foreach (var i in new[] { 0, (CopyBufferSize / sizeof(double)) - 1, CopyBufferSize / sizeof(double), count - 1 })
                {
                    var offset = (int)(dataStart + info.Begin + ((long)i * sizeof(double)));
                    BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(offset)).Should().Be((i * 0.5) - 7, $"element {i} of the file");
                }

                var slice = bytes.AsSpan((int)(dataStart + info.Begin), (int)info.ByteLength);
                SafetensorsWriter.Sha256(big).Should().Be(Convert.ToHexStringLower(SHA256.HashData(slice)));

                using var readBig = reader.ReadTensor("big");
                using var readAfter = reader.ReadTensor("after");
                using var equal = readBig.eq(big);
                equal.all().item<bool>().Should().BeTrue("every chunk is read back in place");
                Values(readAfter).Should().Equal(3.25, -1.0);
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// A safetensors file cut short after it was opened (so the header checks passed) is reported as a
    /// <see cref="SafetensorsFormatException"/> naming the tensor: the reader relies on <c>ReadBytesFromStream</c>
    /// throwing <see cref="EndOfStreamException"/> at the end of the stream rather than leaving the tensor part-filled.
    /// </summary>
    [Fact]
    public void SafetensorsReader_FileTruncatedAfterOpen_ThrowsFormatExceptionNamingTheTensor()
    {
        var folder = Directory.CreateTempSubdirectory("vectorfit-reliance-").FullName;
        try
        {
            var path = Path.Combine(folder, "cut.safetensors");
            // Far larger than the FileStream's own buffer, so the cut part is read from the file, not from memory.
            using (var t = torch.arange(100_000, dtype: ScalarType.Float32))
            {
                SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["x"] = t });
            }

            using var reader = SafetensorsReader.Open(path);
            using (var writer = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            {
                writer.SetLength(writer.Length - 100);
            }

            var act = () => reader.ReadTensor("x");

            act.Should().Throw<SafetensorsFormatException>().WithMessage("*ended before the end of tensor 'x'*truncated*")
                .WithInnerException<EndOfStreamException>();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// Half-precision layers are adapted and adapted layers convert to half precision: the floating-point checks of
    /// <see cref="VectorFitLinear"/> and <see cref="SvftLinear"/> (<c>torch.is_floating_point</c>) accept Float16 and
    /// BFloat16, and the SVD is still taken in float64.
    /// </summary>
    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void HalfPrecision_IsAFloatingDtype_ForAdaptationAndConversion(ScalarType half)
    {
        using var halfLinear = SeededLinear(6, 4, hasBias: true, half, seed: 100);
        using var adaptedHalf = new VectorFitLinear(halfLinear);
        using var svftHalf = new SvftLinear(halfLinear, new SvftLinearOptions { Pattern = SvftPattern.Banded(1) });
        adaptedHalf.state_dict().Values.Should().OnlyContain(t => t.dtype == half);
        svftHalf.U.dtype.Should().Be(half);
        using (var weight64 = halfLinear.weight!.to(ScalarType.Float64))
        using (var merged = adaptedHalf.ToLinear())
        using (var merged64 = merged.weight!.to(ScalarType.Float64))
        {
            MaxAbsDiff(merged64, weight64).Should().BeLessThan(0.05 * MaxAbs(weight64), "the half layer is reproduced to half-precision round-off");
        }

        using var model = AdaptedPair(ScalarType.Float32, seed: 101, out var vectorFit, out var svft);
        model.to(half);

        vectorFit.sigma.dtype.Should().Be(half);
        vectorFit.U.dtype.Should().Be(half);
        vectorFit.initial_sigma.dtype.Should().Be(half);
        svft.svft_values.dtype.Should().Be(half);
        svft.svft_rows.dtype.Should().Be(ScalarType.Int64);
    }

    private static Sequential OneLayerModel(out VectorFitLinear layer)
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float64, seed: 89);
        layer = new VectorFitLinear(linear);
        return nn.Sequential(("layer", layer));
    }

    /// <summary>A VectorFitLinear (6 → 5) then an SvftLinear (5 → 4, band of 1), adapted from seeded Linears.</summary>
    private static Sequential AdaptedPair(ScalarType dtype, long seed, out VectorFitLinear vectorFit, out SvftLinear svft)
    {
        using var first = SeededLinear(6, 5, hasBias: true, dtype, seed);
        using var second = SeededLinear(5, 4, hasBias: true, dtype, seed + 1000);
        vectorFit = new VectorFitLinear(first);
        svft = new SvftLinear(second, new SvftLinearOptions { Pattern = SvftPattern.Banded(1) });
        return nn.Sequential(("vf", vectorFit), ("svft", svft));
    }

    /// <summary>The state with exactly the named vectors frozen.</summary>
    private static AvfState WithFrozen(AvfState state, params string[] frozen)
        => state with { Vectors = state.Vectors.Select(v => v with { IsFrozen = frozen.Contains(v.Name.Split('.')[^1]) }).ToList() };

    private static optim.Optimizer MakeOptimizer(string name, IEnumerable<Parameter> parameters) => name switch
    {
        "sgd-momentum" => optim.SGD(parameters, 0.05, momentum: 0.9, weight_decay: 0.01),
        "adam" => optim.Adam(parameters, lr: 0.01),
        "adamw" => optim.AdamW(parameters, lr: 0.01, weight_decay: 0.1),
        "vectorfit-adamw" => new Optim.AdamW(parameters, lr: 0.01, weight_decay: 0.1),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown optimizer"),
    };

    private static void TrainStep(Sequential model, Tensor x, Tensor target, IReadOnlyList<optim.Optimizer> optimizers)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var optimizer in optimizers)
        {
            optimizer.zero_grad();
        }

        var y = model.forward(x);
        var loss = (y - target).square().mean();
        loss.backward();
        foreach (var optimizer in optimizers)
        {
            optimizer.step();
        }
    }

    private static void TrainStep(Sequential model, Tensor x, Tensor target, optim.Optimizer optimizer)
        => TrainStep(model, x, target, [optimizer]);
}

using VectorFit.Transformers.Models;

namespace VectorFit.Transformers.Tests.Models;

/// <summary>What the load report says about a checkpoint's ignored tensors.</summary>
public sealed class LoadReportTests
{
    [Fact]
    public void Ignored_buffers_are_not_called_pre_training_heads()
    {
        var report = new LoadReport("m.safetensors", 10, [], ["bert.embeddings.position_ids", "cls.predictions.bias"], []);

        report.Describe().Should().Contain("ignored 1 checkpoint tensors of pre-training heads the classifier does not use: cls.predictions.bias")
            .And.Contain("ignored 1 buffer(s) the model computes itself: bert.embeddings.position_ids");
    }
}
